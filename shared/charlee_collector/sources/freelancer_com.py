"""Freelancer.com active projects (https://www.freelancer.com/api/projects/0.1/projects/active/).

WRITTEN FROM DOCUMENTATION ONLY: no real capture of this API exists (``fixtures/real/PROVENANCE.md``).
The shape relied on is the documented ``{"status": "success", "result": {"projects": [{"id",
"title", "preview_description", "description", "seo_url", "currency": {"code"}, "budget":
{"minimum", "maximum"}, "type": "fixed" | "hourly", "time_submitted", "jobs": [{"name"}]}]}}``;
anything else is refused as unparseable, so a change of shape shows as a failed run. Config:
``query``, ``project_types``, ``limit``; skills and whole descriptions always asked for; no credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import to_decimal
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.sources.base import (
    BaseSourceConfig,
    Source,
    WebUrl,
    expect,
    listed,
    load_json,
    read_any,
    records,
    text,
)

DEFAULT_URL = "https://www.freelancer.com/api/projects/0.1/projects/active/"
DEFAULT_SITE_URL = "https://www.freelancer.com"
CONTRACT_TYPES = {"fixed": "fixed_price", "hourly": "hourly"}


class FreelancerComConfig(BaseSourceConfig):
    """``site_url`` builds each project's link (``<site_url>/projects/<seo_url>``)."""

    url: WebUrl = DEFAULT_URL
    site_url: WebUrl = DEFAULT_SITE_URL
    query: str | None = Field(default=None, min_length=1, max_length=200)
    project_types: list[Literal["fixed", "hourly"]] = Field(default_factory=list)
    limit: int = Field(default=50, ge=1, le=100)


class FreelancerComSource(Source):
    key = "freelancer_com"
    reads = 'a JSON object with a "result.projects" list of objects with "id" and "title"'
    min_interval_minutes = 60
    interval_terms = "Freelancer.com rate-limits its API without publishing a figure; hourly."
    example = {"query": "python scraping", "project_types": ["fixed"], "limit": 50, "min_budget": 200}
    Config = FreelancerComConfig

    def request_params(self, config: FreelancerComConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {
            "query": config.query,
            "limit": config.limit,
            "job_details": "true",
            "full_description": "true",
            "project_types[]": list(config.project_types) or None,
        }

    def parse(self, body: bytes, config: FreelancerComConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, 'a JSON object with "result"')
        if payload.get("status") != "success":
            message = text(payload.get("message")) or text(payload.get("status")) or "no status"
            raise PermanentSourceError(f"{self.key} answered without success: {message[:200]}")
        result = expect(payload.get("result"), dict, self.key, 'a "result" object')
        projects = listed(result, "projects", self.key, self.reads)
        site = config.site_url.rstrip("/")
        items: list[Opportunity] = []
        for project in projects:
            budget = _object(project.get("budget"))
            currency = _object(project.get("currency"))
            jobs = records(project.get("jobs"))
            seo_url = text(project.get("seo_url"))
            amount = to_decimal(budget.get("maximum")) or to_decimal(budget.get("minimum"))
            opportunity = build_opportunity(
                external_id=text(project.get("id")),
                title=text(project.get("title")),
                description=text(project.get("description")) or text(project.get("preview_description")),
                url=f"{site}/projects/{seo_url.lstrip('/')}" if seo_url else None,
                required_skills=[text(job.get("name")) for job in jobs if text(job.get("name"))],
                category=_category(jobs),
                client_budget=amount,
                client_currency=text(currency.get("code")) if amount is not None else None,
                contract_type=CONTRACT_TYPES.get(str(project.get("type") or "").lower()),
                posted_at=project.get("time_submitted"),
                raw=project,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, projects, items)


def _object(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _category(jobs: list[Any]) -> str | None:
    for job in jobs:
        category = job.get("category")
        if isinstance(category, dict) and text(category.get("name")):
            return text(category.get("name"))
    return None
