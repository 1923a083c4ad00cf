"""Remote OK (https://remoteok.com/api): a JSON array whose first element is a legal notice.

Verified against a real capture (``fixtures/real/remoteok``). No search options are relied on: the
platform filters do all the narrowing. Salaries (``salary_max``, else ``salary_min``; ``0`` means "not
stated") are documented as yearly USD and fill the budget without a contract type; when the
description states the same figure with a currency or period ("Salary Range: PLN 350,700 - 474,400"),
the text's win, and a figure below ``YEARLY_FLOOR`` keeps its period unknown. Some text is served
double-encoded ("WeÃ¢Â€Â™re"); ``repair_mojibake`` undoes it.
"""

from __future__ import annotations

from typing import Any

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import documented_yearly, stated_budget, to_decimal
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.text import one_line, repair_mojibake
from charlee_collector.sources.base import (
    BaseSourceConfig,
    Source,
    WebUrl,
    expect,
    load_json,
    read_any,
    records,
    strings,
)

DEFAULT_URL = "https://remoteok.com/api"


class RemoteOkConfig(BaseSourceConfig):
    """``url`` defaults to the public API; override it to point at a mirror or a test server."""

    url: WebUrl = DEFAULT_URL


def _text(value: Any) -> str | None:
    return repair_mojibake(value) if isinstance(value, str) else None


class RemoteOkSource(Source):
    key = "remoteok"
    reads = 'a JSON array of objects with "id" and "position"'
    min_interval_minutes = 60
    interval_terms = "Remote OK's API terms ask for a link back and state no frequency; its data changes a few times an hour at most, so hourly."
    example = {"keywords": ["python", "django"], "min_budget": 50000}
    Config = RemoteOkConfig

    def parse(self, body: bytes, config: RemoteOkConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), list, self.key, self.reads)
        items: list[Opportunity] = []
        # Element 0 is the legal notice; jobs with an empty position are placeholders.
        found = [job for job in records(payload) if "legal" not in job]
        jobs = [job for job in found if one_line(_text(job.get("position")))]
        placeholders = sum(1 for job in found if "position" in job) - len(jobs)
        descriptions = html_texts([_text(job.get("description")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            salary = to_decimal(job.get("salary_max")) or to_decimal(job.get("salary_min"))
            stated = stated_budget(description, salary)
            opportunity = build_opportunity(
                external_id=job.get("id") or job.get("slug"),
                title=_text(job.get("position")),
                description=description,
                url=job.get("url") or job.get("apply_url"),
                client_name=_text(job.get("company")),
                required_skills=[_text(tag) for tag in strings(job.get("tags"))],
                client_budget=salary,
                client_currency=(stated and stated.currency) or ("USD" if salary is not None else None),
                budget_period=(stated and stated.period) or documented_yearly(salary),
                posted_at=job.get("epoch") or job.get("date"),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, found, items, skipped=placeholders)
