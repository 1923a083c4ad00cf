"""Himalayas (https://himalayas.app/jobs/api): ``{"jobs": [...], "offset", "limit", ...}``.

Verified against a real capture (``fixtures/real/himalayas``). The public list endpoint takes
only ``limit`` and ``offset``, so there is no server-side keyword option here. ``pubDate`` is
documented in milliseconds but served in seconds; ``parse_datetime`` reads both. Salaries are
yearly (``minSalary``/``maxSalary`` in ``currency``; the API has no period field); the upper one
is the budget, per year unless it is below ``YEARLY_FLOOR``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import documented_yearly, to_decimal
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

DEFAULT_URL = "https://himalayas.app/jobs/api"


class HimalayasConfig(BaseSourceConfig):
    """``limit`` and ``offset`` are the API's paging options (it serves at most 20 per call)."""

    url: WebUrl = DEFAULT_URL
    limit: int | None = Field(default=20, ge=1, le=100)
    offset: int | None = Field(default=None, ge=0)


class HimalayasSource(Source):
    key = "himalayas"
    reads = 'a JSON object with a "jobs" list of objects with "guid" and "title"'
    min_interval_minutes = 60
    interval_terms = "Himalayas states no frequency; its list changes slowly, so hourly."
    example = {"limit": 20, "keywords": ["contract", "freelance"]}
    Config = HimalayasConfig

    def request_params(self, config: HimalayasConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"limit": config.limit, "offset": config.offset}

    def parse(self, body: bytes, config: HimalayasConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "jobs", self.key, self.reads)
        items: list[Opportunity] = []
        descriptions = html_texts([text(job.get("description")) or text(job.get("excerpt")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            salary = to_decimal(job.get("maxSalary")) or to_decimal(job.get("minSalary"))
            link = text(job.get("applicationLink")) or text(job.get("guid"))
            parents = strings(job.get("parentCategories"))
            opportunity = build_opportunity(
                external_id=text(job.get("guid")) or link,
                title=text(job.get("title")),
                description=description,
                url=link,
                client_name=text(job.get("companyName")),
                required_skills=[skill.replace("-", " ") for skill in strings(job.get("categories"))],
                category=parents[0] if parents else None,
                client_budget=salary,
                client_currency=text(job.get("currency")) if salary is not None else None,
                budget_period=documented_yearly(salary),
                posted_at=job.get("pubDate"),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
