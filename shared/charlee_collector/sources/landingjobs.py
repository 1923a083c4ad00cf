"""Landing.jobs (https://landing.jobs/api/v1/jobs): a JSON array of jobs, paged by ``offset`` and ``limit``.

Verified against a real capture (``fixtures/real/landingjobs``). Pages of ``page_size`` (at most
50) until a page comes back short, at most ``max_pages`` (``offset_pages``). A job's text is its
``role_description``, ``main_requirements``, ``nice_to_have`` and ``perks``. ``gross_salary_low``
and ``gross_salary_high`` in ``currency_code`` are a gross yearly salary (the API has no period
field; below 1,000 it cannot be one, so unknown). Where: ``remote: true`` is remote (``false``
says nothing more) and each of ``locations`` (city, country code). Jobs name no company; the
client is the company's name in the link (``landing.jobs/at/{company}/...``).
"""

from __future__ import annotations

import re
from dataclasses import replace

from pydantic import Field

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import budget_fields, documented_yearly, salary_range
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace_of_flags
from charlee_collector.sources.base import WebUrl, expect, load_json, read_any, records, strings, text
from charlee_collector.sources.offset_pages import OffsetPagedSource, OffsetPagesConfig

DEFAULT_URL = "https://landing.jobs/api/v1/jobs"
_SECTIONS = ("role_description", "main_requirements", "nice_to_have", "perks")
_COMPANY = re.compile(r"/at/([^/]+)/")


class LandingJobsConfig(OffsetPagesConfig):
    """Landing.jobs serves at most 50 jobs a page."""

    url: WebUrl = DEFAULT_URL
    page_size: int = Field(default=50, ge=1, le=50)


class LandingJobsSource(OffsetPagedSource):
    key = "landingjobs"
    reads = 'a JSON array of jobs with "id" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Landing.jobs states no frequency for its public API; each collection reads up to "
        "max_pages pages, so hourly."
    )
    example = {"page_size": 50, "max_pages": 3, "keywords": ["python"]}
    Config = LandingJobsConfig

    def has_more(self, body: bytes, offset: int, limit: int) -> bool:
        payload = load_json(body, self.key)
        return isinstance(payload, list) and len(payload) >= limit

    def parse(self, body: bytes, config: LandingJobsConfig) -> list[Opportunity]:
        jobs = records(expect(load_json(body, self.key), list, self.key, self.reads))
        items: list[Opportunity] = []
        pages = ["".join(text(job.get(section)) or "" for section in _SECTIONS) for job in jobs]
        descriptions = html_texts([page or None for page in pages])
        for job, description in zip(jobs, descriptions, strict=True):
            salary = salary_range(
                job.get("gross_salary_low"), job.get("gross_salary_high"), job.get("currency_code"), None
            )
            budget = replace(salary, period=documented_yearly(salary.amount)) if salary else None
            link = text(job.get("url"))
            company = _COMPANY.search(link) if link else None
            cities = [
                ", ".join(name for name in (text(where.get("city")), text(where.get("country_code"))) if name)
                for where in records(job.get("locations"))
            ]
            opportunity = build_opportunity(
                external_id=text(job.get("id")),
                title=text(job.get("title")),
                description=description,
                url=link,
                client_name=company.group(1) if company else None,
                client_country=place(workplace_of_flags(remote=job.get("remote")), cities),
                required_skills=strings(job.get("tags")),
                **budget_fields(budget),
                posted_at=text(job.get("published_at")) or text(job.get("created_at")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
