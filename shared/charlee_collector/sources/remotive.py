"""Remotive (https://remotive.com/api/remote-jobs): ``{"jobs": [...]}`` plus legal notices.

Verified against a real capture (``fixtures/real/remotive``). The API's own narrowing options
are exposed as explicit config fields (``search``, ``category``, ``limit``) and sent as query
parameters; the platform filters still apply on our side. ``salary`` is free text ("$50-$75
/hour", "$80k - $100k"): its period is the one the text states ("/hour" -> hour, which makes the
contract hourly; "$80k - $100k" says none, so it stays unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import parse_budget
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.sources.base import (
    BaseSourceConfig,
    Source,
    WebUrl,
    expect,
    listed,
    load_json,
    read_any,
    strings,
    text,
)

DEFAULT_URL = "https://remotive.com/api/remote-jobs"


class RemotiveConfig(BaseSourceConfig):
    """Remotive's query options: ``search`` (title/description), ``category`` slug, ``limit``."""

    url: WebUrl = DEFAULT_URL
    search: str | None = Field(default=None, min_length=1, max_length=200)
    category: str | None = Field(default=None, min_length=1, max_length=100)
    limit: int | None = Field(default=None, ge=1, le=1000)


class RemotiveSource(Source):
    key = "remotive"
    reads = 'a JSON object with a "jobs" list of objects with "id" and "title"'
    min_interval_minutes = 360
    interval_terms = (
        'Remotive\'s legal notice: "we advise max. 4 times a day"; excessive requests are blocked.'
    )
    example = {"search": "django", "category": "software-dev", "limit": 100, "exclude_keywords": ["senior"]}
    Config = RemotiveConfig

    def request_params(self, config: RemotiveConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"search": config.search, "category": config.category, "limit": config.limit}

    def parse(self, body: bytes, config: RemotiveConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "jobs", self.key, self.reads)
        items: list[Opportunity] = []
        descriptions = html_texts([text(job.get("description")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            budget = parse_budget(text(job.get("salary")))
            opportunity = build_opportunity(
                external_id=text(job.get("id")),
                title=text(job.get("title")),
                description=description,
                url=text(job.get("url")),
                client_name=text(job.get("company_name")),
                required_skills=strings(job.get("tags")),
                category=text(job.get("category")),
                client_budget=budget.amount if budget else None,
                client_currency=budget.currency if budget else None,
                contract_type=budget.contract_type if budget else None,
                budget_period=budget.period if budget else None,
                posted_at=text(job.get("publication_date")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
