"""Workable careers widgets (apply.workable.com/api/v1/widget/accounts/{board}?details=true): ``{"name", "jobs"}``.

Verified against a real capture (``fixtures/real/workable``, an account with one open job).
``board`` is the account's name (after ``apply.workable.com/``); ``details=true`` adds each job's
description. The account's ``name`` is the client. The widget has no pay field, so no budget.
Where: ``telecommuting: true`` is remote (``false`` says nothing more), and each of
``locations`` (city, region, country), else the job's own ``city``, ``state`` and ``country``.
The date is ``published_on``, else ``created_at``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace_of_flags
from charlee_collector.sources.base import expect, listed, load_json, read_any, records, text
from charlee_collector.sources.boards import BoardConfig, BoardSource


def _spelled(where: Mapping[str, Any], *parts: str) -> str | None:
    named = [text(where.get(part)) for part in parts]
    return ", ".join(name for name in named if name) or None


class WorkableSource(BoardSource):
    key = "workable"
    board_url = "https://apply.workable.com/api/v1/widget/accounts/{board}"
    reads = 'a JSON object with a "jobs" list of objects with "shortcode" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Workable's public careers widget states no frequency; an account changes a few times a "
        "day, so hourly."
    )
    example = {"board": "workable", "keywords": ["manager"]}
    Config = BoardConfig

    def request_params(self, config: BoardConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"details": "true"}

    def parse(self, body: bytes, config: BoardConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "jobs", self.key, self.reads)
        company = text(payload.get("name"))
        items: list[Opportunity] = []
        descriptions = html_texts([text(job.get("description")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            locations = [
                _spelled(where, "city", "region", "country") for where in records(job.get("locations"))
            ]
            opportunity = build_opportunity(
                external_id=text(job.get("shortcode")) or text(job.get("code")),
                title=text(job.get("title")),
                description=description,
                url=text(job.get("url")) or text(job.get("shortlink")),
                client_name=company,
                client_country=place(
                    workplace_of_flags(remote=job.get("telecommuting")),
                    locations or [_spelled(job, "city", "state", "country")],
                ),
                category=text(job.get("department")) or text(job.get("function")),
                posted_at=text(job.get("published_on")) or text(job.get("created_at")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
