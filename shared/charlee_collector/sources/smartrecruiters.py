"""SmartRecruiters postings (api.smartrecruiters.com/v1/companies/{board}/postings), paged by ``offset``.

Verified against a real capture (``fixtures/real/smartrecruiters``). A page is ``{"offset",
"limit", "totalFound", "content": [...]}``. ``board`` is the company identifier (after
``jobs.smartrecruiters.com/``); ``query`` is sent as the API's ``q``. Pages of ``page_size`` by
``offset`` until ``totalFound`` (``offset_pages``). The list carries neither a description nor pay
(both come only with one posting's own request, one more request per job), so items have their
title, company, function, where and date, and no budget. The link is the public posting page,
``jobs.smartrecruiters.com/{company}/{id}``. Where: ``location.remote`` and ``location.hybrid``,
and ``fullLocation`` (else city, region, country).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace_of_flags
from charlee_collector.sources.base import expect, listed, load_json, read_any, records, text
from charlee_collector.sources.boards import BoardConfig, BoardSource
from charlee_collector.sources.offset_pages import OffsetPagedSource, OffsetPagesConfig

POSTING_PAGE = "https://jobs.smartrecruiters.com/{company}/{id}"


class SmartRecruitersConfig(OffsetPagesConfig, BoardConfig):
    """``query``: the API's own search (``q``), on top of ``board``/``url`` and paging."""

    query: str | None = Field(default=None, min_length=1, max_length=200)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _label(value: Any) -> str | None:
    return text(_object(value).get("label"))


class SmartRecruitersSource(OffsetPagedSource, BoardSource):
    key = "smartrecruiters"
    board_url = "https://api.smartrecruiters.com/v1/companies/{board}/postings"
    reads = 'a JSON object with a "content" list of objects with "id" and "name"'
    min_interval_minutes = 60
    interval_terms = (
        "SmartRecruiters' public Posting API states no frequency; each collection reads up to "
        "max_pages pages, so hourly."
    )
    example = {"board": "WesternDigital", "query": "intern", "page_size": 100, "max_pages": 5}
    Config = SmartRecruitersConfig

    def request_params(self, config: SmartRecruitersConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"q": config.query}

    def has_more(self, body: bytes, offset: int, limit: int) -> bool:
        payload = load_json(body, self.key)
        if not isinstance(payload, Mapping):
            return False
        total = payload.get("totalFound")
        if isinstance(total, int) and not isinstance(total, bool):
            return offset + limit < total
        return len(records(payload.get("content"))) >= limit

    def parse(self, body: bytes, config: SmartRecruitersConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        postings = listed(payload, "content", self.key, self.reads)
        items: list[Opportunity] = []
        for posting in postings:
            company, location = _object(posting.get("company")), _object(posting.get("location"))
            identifier, ident = text(company.get("identifier")) or config.board, text(posting.get("id"))
            where = workplace_of_flags(remote=location.get("remote"), hybrid=location.get("hybrid"))
            spelled = [text(location.get(part)) for part in ("city", "region", "country")]
            full = text(location.get("fullLocation")) or ", ".join(part for part in spelled if part)
            opportunity = build_opportunity(
                external_id=ident,
                title=text(posting.get("name")),
                url=POSTING_PAGE.format(company=quote(identifier, safe=""), id=quote(ident, safe=""))
                if identifier and ident
                else None,
                client_name=text(company.get("name")),
                client_country=place(where, [full]),
                category=_label(posting.get("function")) or _label(posting.get("department")),
                posted_at=text(posting.get("releasedDate")),
                raw=posting,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, postings, items)
