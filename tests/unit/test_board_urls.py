"""Where each job-board source reads from: its API's documented address with the ``board`` filled
in (Lever's EU host when asked), or the config's ``url``, which overrides it as for every source."""

from __future__ import annotations

import pytest

from charlee_collector.sources import REGISTRY, validate_config

DOCUMENTED = {
    "greenhouse": "https://boards-api.greenhouse.io/v1/boards/acme/jobs",
    "lever": "https://api.lever.co/v0/postings/acme",
    "ashby": "https://api.ashbyhq.com/posting-api/job-board/acme",
    "smartrecruiters": "https://api.smartrecruiters.com/v1/companies/acme/postings",
    "workable": "https://apply.workable.com/api/v1/widget/accounts/acme",
    "recruitee": "https://acme.recruitee.com/api/offers/",
}
PARAMS = {
    "greenhouse": {"content": "true"},
    "lever": {"mode": "json"},
    "ashby": {"includeCompensation": "true"},
    "smartrecruiters": {"q": None},
    "workable": {"details": "true"},
    "recruitee": {},
}


@pytest.mark.parametrize("source", sorted(DOCUMENTED))
def test_the_board_fills_the_documented_address(source):
    adapter = REGISTRY[source]
    config = validate_config(source, {"board": "acme"})
    assert adapter.request_url(config) == DOCUMENTED[source]
    assert adapter.request_params(config, {}) == PARAMS[source]


@pytest.mark.parametrize("source", sorted(DOCUMENTED))
def test_a_url_overrides_the_board(source):
    config = validate_config(source, {"board": "acme", "url": "https://mirror.example.org/jobs.json"})
    assert REGISTRY[source].request_url(config) == "https://mirror.example.org/jobs.json"


def test_lever_reads_the_eu_host_when_asked():
    config = validate_config("lever", {"board": "acme", "region": "eu"})
    assert REGISTRY["lever"].request_url(config) == "https://api.eu.lever.co/v0/postings/acme"


def test_the_job_boards_without_a_board_default_to_their_apis():
    assert validate_config("workingnomads", {}).url == "https://www.workingnomads.com/api/exposed_jobs/"
    landing = validate_config("landingjobs", {})
    assert (landing.url, landing.page_size, landing.max_pages) == ("https://landing.jobs/api/v1/jobs", 50, 5)
