"""Jobicy (https://jobicy.com/api/v2/remote-jobs): ``{"jobs": [...], "jobCount", ...}``.

Verified against a real capture (``fixtures/real/jobicy``). The API's narrowing options are
explicit config fields sent as query parameters: ``count`` (1-100), ``geo`` (a region slug such
as ``usa``), ``industry`` (a slug such as ``dev``) and ``tag`` (searches title and description).
Text comes HTML-escaped ("Finance &amp; Accounting"). ``salaryPeriod`` ("yearly", "monthly",
"hourly", ...) is the budget's period; "hourly" makes the contract hourly.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import budget_period, to_decimal
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

DEFAULT_URL = "https://jobicy.com/api/v2/remote-jobs"


class JobicyConfig(BaseSourceConfig):
    """Jobicy's query options; ``None`` leaves one out."""

    url: WebUrl = DEFAULT_URL
    count: int | None = Field(default=50, ge=1, le=100)
    geo: str | None = Field(default=None, min_length=1, max_length=50)
    industry: str | None = Field(default=None, min_length=1, max_length=50)
    tag: str | None = Field(default=None, min_length=1, max_length=100)


def _unescaped(value: Any) -> str | None:
    value = text(value)
    return html.unescape(value) if value else None


class JobicySource(Source):
    key = "jobicy"
    reads = 'a JSON object with a "jobs" list of objects with "id" and "jobTitle"'
    min_interval_minutes = 360
    interval_terms = 'Jobicy\'s notice: "we recommend fetching the feed a few times per day"; excessive requests may be restricted.'
    example = {"count": 50, "geo": "usa", "industry": "dev", "tag": "python"}
    Config = JobicyConfig

    def request_params(self, config: JobicyConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"count": config.count, "geo": config.geo, "industry": config.industry, "tag": config.tag}

    def parse(self, body: bytes, config: JobicyConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        jobs = listed(payload, "jobs", self.key, self.reads)
        items: list[Opportunity] = []
        descriptions = html_texts(
            [text(job.get("jobDescription")) or text(job.get("jobExcerpt")) for job in jobs]
        )
        for job, description in zip(jobs, descriptions, strict=True):
            salary = to_decimal(job.get("salaryMax")) or to_decimal(job.get("salaryMin"))
            industries = [html.unescape(name) for name in strings(job.get("jobIndustry"))]
            period = budget_period(text(job.get("salaryPeriod")))
            opportunity = build_opportunity(
                external_id=text(job.get("id")) or text(job.get("jobSlug")),
                title=_unescaped(job.get("jobTitle")),
                description=description,
                url=text(job.get("url")),
                client_name=_unescaped(job.get("companyName")),
                category=industries[0] if industries else None,
                client_budget=salary,
                client_currency=text(job.get("salaryCurrency")) if salary is not None else None,
                budget_period=period,
                posted_at=text(job.get("pubDate")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
