"""Sources whose API pages by ``offset`` and ``limit`` on one URL (SmartRecruiters, Landing.jobs).

``fetch`` asks for ``page_size`` records at offset 0, then at each next offset, while the source's
``has_more`` says the page was not the last and at most ``max_pages`` pages in all. Every page is
the same URL with another ``offset``, so paging never leaves the configured host, and each page
goes through the collection's ``Fetcher`` (SSRF check, size cap, the one deadline). Only the first
page is fetched conditionally; its validators are the ones stored (a 304 on it: nothing changed).
``parse`` reads ONE page body. A later page that fails (an HTTP error, a body it cannot read)
fails the collection as the first page would, with the same ``SourceError`` (the failure table
in docs/faults.md says where each goes): the items of the pages before it are not half-stored.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

from pydantic import Field

from charlee_collector.fetching.client import Fetcher
from charlee_collector.normalize.filters import BaseSourceConfig
from charlee_collector.sources.base import FetchResult, Source, Turn


class OffsetPagesConfig(BaseSourceConfig):
    """``page_size``: records per request; ``max_pages``: requests per collection at most."""

    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=20)


class OffsetPagedSource(Source):
    """A source read page by page: ``offset``/``limit`` query parameters on ``request_url``."""

    @abstractmethod
    def has_more(self, body: bytes, offset: int, limit: int) -> bool:
        """Whether records follow the page at ``offset`` (read from its body: a total, a full page)."""

    def fetch(
        self,
        config: Any,
        fetcher: Fetcher,
        *,
        etag: str | None,
        last_modified: str | None,
        secrets: Mapping[str, str],
        turn: Turn = nullcontext,
    ) -> FetchResult:
        url, headers = self.request_url(config), self.request_headers(config, secrets)
        limit = config.page_size
        params = {**self.request_params(config, secrets), "offset": 0, "limit": limit}
        first = fetcher.get(url, params=params, headers=headers, etag=etag, last_modified=last_modified)
        if first.not_modified:
            return FetchResult.from_response(first, [])
        items = self.parse_payload(first.body, config, turn, fetcher.deadline)
        response, offset = first, 0
        for _page in range(1, config.max_pages):
            if not self.has_more(response.body, offset, limit):
                break
            offset += limit
            response = fetcher.get(url, params={**params, "offset": offset}, headers=headers)
            if response.not_modified:
                break
            items.extend(self.parse_payload(response.body, config, turn, fetcher.deadline))
        return FetchResult.from_response(first, items)
