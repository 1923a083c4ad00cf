"""Arbeitnow (https://www.arbeitnow.com/api/job-board-api): ``{"data": [...], "links", "meta"}``.

Verified against a real capture (``fixtures/real/arbeitnow``) for the job objects; that capture
lost the ``links``/``meta`` envelope, so pagination is tested on our own fixtures. ``fetch``
follows ``links.next`` up to ``max_pages`` (default 3) and only on the configured host; only the
first page is fetched conditionally (its validators are the ones stored). ``parse`` reads ONE
page body. Every page is fetched through the collection's ``Fetcher``, so each is SSRF-checked and capped.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext

import httpx
from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Fetcher
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.sources.base import (
    BaseSourceConfig,
    FetchResult,
    Source,
    Turn,
    WebUrl,
    expect,
    listed,
    load_json,
    read_any,
    strings,
    text,
)

DEFAULT_URL = "https://www.arbeitnow.com/api/job-board-api"


class ArbeitnowConfig(BaseSourceConfig):
    """``max_pages``: how many pages of ``links.next`` to follow per collection (1-20)."""

    url: WebUrl = DEFAULT_URL
    max_pages: int = Field(default=3, ge=1, le=20)


class ArbeitnowSource(Source):
    key = "arbeitnow"
    reads = 'a JSON object with a "data" list of objects with "slug" and "title"'
    min_interval_minutes = 60
    interval_terms = "Arbeitnow states no frequency; each collection reads up to max_pages pages, so hourly."
    example = {"max_pages": 3, "keywords": ["remote"]}
    Config = ArbeitnowConfig

    def parse(self, body: bytes, config: ArbeitnowConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "data", self.key, self.reads)
        items: list[Opportunity] = []
        descriptions = html_texts([text(job.get("description")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            opportunity = build_opportunity(
                external_id=text(job.get("slug")),
                title=text(job.get("title")),
                description=description,
                url=text(job.get("url")),
                client_name=text(job.get("company_name")),
                required_skills=strings(job.get("tags")),
                posted_at=job.get("created_at"),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)

    def next_page(self, body: bytes, current: str, config: ArbeitnowConfig) -> str | None:
        """The ``links.next`` URL of a page, when it stays on the configured host."""
        payload = load_json(body, self.key)
        links = payload.get("links") if isinstance(payload, dict) else None
        target = text(links.get("next")) if isinstance(links, dict) else None
        if not target:
            return None
        try:
            resolved = httpx.URL(current).join(target)
        except (httpx.InvalidURL, ValueError):
            return None
        # A next link to another host is not pagination; following it would let the payload
        # choose what we fetch.
        return str(resolved) if resolved.host == httpx.URL(str(config.url)).host else None

    def fetch(
        self,
        config: ArbeitnowConfig,
        fetcher: Fetcher,
        *,
        etag: str | None,
        last_modified: str | None,
        secrets: Mapping[str, str],
        turn: Turn = nullcontext,
    ) -> FetchResult:
        headers = self.request_headers(config, secrets)
        first = fetcher.get(config.url, headers=headers, etag=etag, last_modified=last_modified)
        if first.not_modified:
            return FetchResult.from_response(first, [])
        items = self.parse_payload(first.body, config, turn)
        response, seen = first, {first.url}
        for _page in range(1, config.max_pages):
            following = self.next_page(response.body, response.url, config)
            if following is None or following in seen:
                break
            seen.add(following)
            response = fetcher.get(following, headers=headers)
            if response.not_modified:
                break
            items.extend(self.parse_payload(response.body, config, turn))
        return FetchResult.from_response(first, items)
