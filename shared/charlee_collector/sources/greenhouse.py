"""Greenhouse job boards (boards-api.greenhouse.io/v1/boards/{board}/jobs?content=true): ``{"jobs": [...], "meta"}``.

Verified against a real capture (``fixtures/real/greenhouse``). ``board`` is the board token (the
name after ``job-boards.greenhouse.io/``). ``content`` is HTML that Greenhouse escapes once more
("&lt;p&gt;"): it is unescaped (unless it holds tags already), then turned into text. The list has no pay field (pay ranges come
only with one job's own request), so there is no budget. Greenhouse has no workplace field either:
a location that says "Remote" or "Hybrid" gives it. Locations are the job's ``location`` and its
offices' locations; the posting date is ``first_published``, else ``updated_at``.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace_in_text
from charlee_collector.sources.base import expect, listed, load_json, read_any, records, text
from charlee_collector.sources.boards import BoardConfig, BoardSource


def _named(value: Any, key: str) -> str | None:
    return text(value.get(key)) if isinstance(value, Mapping) else None


class GreenhouseSource(BoardSource):
    key = "greenhouse"
    board_url = "https://boards-api.greenhouse.io/v1/boards/{board}/jobs"
    reads = 'a JSON object with a "jobs" list of objects with "id" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Greenhouse's Job Board API is public and cached, with no stated frequency; a board changes "
        "a few times a day, so hourly."
    )
    example = {"board": "phonepe", "keywords": ["python"]}
    Config = BoardConfig

    def request_params(self, config: BoardConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"content": "true"}

    def parse(self, body: bytes, config: BoardConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "jobs", self.key, self.reads)
        contents = [text(job.get("content")) or "" for job in jobs]
        # Unescaped only when escaped: a board that serves plain HTML keeps its text's "&lt;".
        descriptions = html_texts([html.unescape(page) if "<" not in page else page for page in contents])
        items: list[Opportunity] = []
        for job, description in zip(jobs, descriptions, strict=True):
            location = _named(job.get("location"), "name")
            offices = [_named(office, "location") for office in records(job.get("offices"))]
            departments = [_named(department, "name") for department in records(job.get("departments"))]
            opportunity = build_opportunity(
                external_id=text(job.get("id")),
                title=text(job.get("title")),
                description=description,
                url=text(job.get("absolute_url")),
                client_name=text(job.get("company_name")),
                client_country=place(workplace_in_text(location), [location, *offices]),
                category=next((name for name in departments if name), None),
                posted_at=text(job.get("first_published")) or text(job.get("updated_at")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
