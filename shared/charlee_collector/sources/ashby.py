"""Ashby job boards (api.ashbyhq.com/posting-api/job-board/{board}?includeCompensation=true): ``{"jobs": [...]}``.

Verified against a real capture (``fixtures/real/ashby``), whose board publishes no pay (every
``compensationTiers`` is empty); the pay path is tested on our own fixture. ``board`` is the job
board name (after ``jobs.ashbyhq.com/``). Jobs with ``isListed: false`` are left out (an absent
flag counts as listed). The budget is the first ``Salary`` component of ``compensation``'s
``summaryComponents``, else of its ``compensationTiers``: ``minValue``/``maxValue`` in
``currencyCode`` per ``interval`` ("1 YEAR", "1 HOUR"; "2 WEEK" has no period of ours, so it is
unknown). Where: ``workplaceType`` (else ``isRemote``), ``location`` and ``secondaryLocations``.
Jobs name no company: the client is the ``board``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import Budget, budget_fields, named_period, salary_range
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place, workplace, workplace_of_flags
from charlee_collector.sources.base import expect, listed, load_json, read_any, records, text
from charlee_collector.sources.boards import BoardConfig, BoardSource


def _components(compensation: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from records(compensation.get("summaryComponents"))
    for tier in records(compensation.get("compensationTiers")):
        yield from records(tier.get("components"))


def _salary(job: Mapping[str, Any]) -> Budget | None:
    compensation = job.get("compensation")
    if not isinstance(compensation, Mapping):
        return None
    for component in _components(compensation):
        if (text(component.get("compensationType")) or "").casefold() != "salary":
            continue
        budget = salary_range(
            component.get("minValue"),
            component.get("maxValue"),
            component.get("currencyCode"),
            named_period(component.get("interval")),
        )
        if budget is not None:
            return budget
    return None


class AshbySource(BoardSource):
    key = "ashby"
    board_url = "https://api.ashbyhq.com/posting-api/job-board/{board}"
    reads = 'a JSON object with a "jobs" list of objects with "id" and "title"'
    min_interval_minutes = 60
    interval_terms = (
        "Ashby's public Job Postings API states no frequency; a board changes a few times a day, so hourly."
    )
    example = {"board": "sarvam", "keywords": ["engineer"]}
    Config = BoardConfig

    def request_params(self, config: BoardConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {"includeCompensation": "true"}

    def parse(self, body: bytes, config: BoardConfig) -> list[Opportunity]:
        payload = expect(load_json(body, self.key), dict, self.key, self.reads)
        found = listed(payload, "jobs", self.key, self.reads)
        jobs = [job for job in found if job.get("isListed") is not False]
        items: list[Opportunity] = []
        descriptions = html_texts(
            [text(job.get("descriptionHtml")) or text(job.get("descriptionPlain")) for job in jobs]
        )
        for job, description in zip(jobs, descriptions, strict=True):
            budget = _salary(job)
            where = workplace(job.get("workplaceType")) or workplace_of_flags(remote=job.get("isRemote"))
            secondary = [text(entry.get("location")) for entry in records(job.get("secondaryLocations"))]
            opportunity = build_opportunity(
                external_id=text(job.get("id")),
                title=text(job.get("title")),
                description=description,
                url=text(job.get("jobUrl")) or text(job.get("applyUrl")),
                client_name=config.board,
                client_country=place(where, [text(job.get("location")), *secondary]),
                category=text(job.get("department")) or text(job.get("team")),
                **budget_fields(budget),
                posted_at=text(job.get("publishedAt")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, found, items, skipped=len(found) - len(jobs))
