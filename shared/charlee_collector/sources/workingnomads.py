"""Working Nomads (https://www.workingnomads.com/api/exposed_jobs/): a JSON array of remote jobs.

Verified against a real capture (``fixtures/real/workingnomads``). Every job on Working Nomads is
remote; its ``location`` is where applicants may live ("Remote, USA Only", "Brazil"). Jobs carry
no id: the number in their ``url`` (``/job/go/1891955/``) is the id, else the URL itself. There is
no pay field, so no budget. ``tags`` is one comma-separated string; the date is ``pub_date``.
"""

from __future__ import annotations

import re

from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.workplaces import place
from charlee_collector.sources.base import (
    BaseSourceConfig,
    Source,
    WebUrl,
    expect,
    load_json,
    read_any,
    records,
    text,
)

DEFAULT_URL = "https://www.workingnomads.com/api/exposed_jobs/"
_JOB_NUMBER = re.compile(r"/job/go/(\d+)/?$")


class WorkingNomadsConfig(BaseSourceConfig):
    """The endpoint has no query options: ``url`` only, and the shared filters."""

    url: WebUrl = DEFAULT_URL


class WorkingNomadsSource(Source):
    key = "workingnomads"
    reads = 'a JSON array of jobs with "url" and "title"'
    min_interval_minutes = 60
    interval_terms = "Working Nomads states no frequency for its public jobs export; hourly."
    example = {"keywords": ["python", "django"]}
    Config = WorkingNomadsConfig

    def parse(self, body: bytes, config: WorkingNomadsConfig) -> list[Opportunity]:
        jobs = records(expect(load_json(body, self.key), list, self.key, self.reads))
        items: list[Opportunity] = []
        descriptions = html_texts([text(job.get("description")) for job in jobs])
        for job, description in zip(jobs, descriptions, strict=True):
            link = text(job.get("url"))
            number = _JOB_NUMBER.search(link) if link else None
            opportunity = build_opportunity(
                external_id=number.group(1) if number else link,
                title=text(job.get("title")),
                description=description,
                url=link,
                client_name=text(job.get("company_name")),
                client_country=place("remote", [text(job.get("location"))]),
                # One comma-separated string as served (a list would do too): build_opportunity splits it.
                required_skills=job.get("tags"),
                category=text(job.get("category_name")),
                posted_at=text(job.get("pub_date")),
                raw=job,
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, self.reads, jobs, items)
