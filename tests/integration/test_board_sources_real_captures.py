"""The job-board adapters through the local HTTP server against REAL third-party captures, and
against variants made from those captures: schemas vary between boards of one vendor, so every
field but the id and the title is taken away, nulled, or emptied in turn.

The captures are read in place from ``../shared/fixtures/real`` (see its PROVENANCE.md) and never
copied into this repository. Expected values below were read from the captures themselves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import fetch_platform

REAL = Path(__file__).parents[2].parent / "shared" / "fixtures" / "real"

pytestmark = [
    pytest.mark.real_capture,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real captures folder {REAL} is absent"),
]

# source -> (capture, config besides the url, where the jobs are, the keys a job cannot lack)
CAPTURES: dict[str, tuple[str, dict[str, Any], Any, set[str]]] = {
    "greenhouse": (
        "greenhouse/greenhouse_boards-api_phonepe_jobs_content_2026-07-31.json",
        {"board": "phonepe"},
        lambda payload: payload["jobs"],
        {"id", "title"},
    ),
    "lever": (
        "lever/lever_postings_meesho_mode-json_2026-07-31.json",
        {"board": "meesho"},
        lambda payload: payload,
        {"id", "text"},
    ),
    "ashby": (
        "ashby/ashby_posting-api_sarvam_include-compensation_2026-07-31.json",
        {"board": "sarvam"},
        lambda payload: payload["jobs"],
        {"id", "title"},
    ),
    "smartrecruiters": (
        "smartrecruiters/smartrecruiters_postings_westerndigital_q-intern_2026-08-03.json",
        {"board": "WesternDigital", "query": "intern"},
        lambda payload: payload["content"],
        {"id", "name"},
    ),
    "workable": (
        "workable/workable_widget_accounts_workable_details_2026-07-31.json",
        {"board": "workable"},
        lambda payload: payload["jobs"],
        {"shortcode", "title"},
    ),
    "recruitee": (
        "recruitee/recruitee_offers_channable_2026-10.json",
        {"board": "channable"},
        lambda payload: payload["offers"],
        {"id", "title"},
    ),
    "workingnomads": (
        "workingnomads/workingnomads_exposed_jobs_2026-09.json",
        {},
        lambda payload: payload,
        {"url", "title"},
    ),
    "landingjobs": (
        "landingjobs/landingjobs_api_v1_jobs_2026-09.json",
        {},
        lambda payload: payload,
        {"id", "title"},
    ),
}


def _collect(http_server, http_client, settings, source, body: bytes):
    _capture_path, config, _jobs, _kept = CAPTURES[source]
    http_server.route("/capture", body=body, content_type="application/json")
    result = fetch_platform(
        source, {"url": http_server.url("/capture"), **config}, Fetcher(http_client, settings)
    )
    assert result.outcome == "ok"
    return result, {item.external_id: item for item in result.items}


def _capture(source: str) -> bytes:
    return (REAL / CAPTURES[source][0]).read_bytes()


def test_greenhouse(http_server, http_client, allow_private_networks):
    result, items = _collect(
        http_server, http_client, allow_private_networks, "greenhouse", _capture("greenhouse")
    )
    assert len(result.items) == 16
    job = items["7650503003"]
    assert (job.title, job.client_name, job.url) == (
        "AI Creative Lead",
        "PhonePe",
        "https://job-boards.greenhouse.io/phonepe/jobs/7650503003",
    )
    assert job.description.startswith("About PhonePe Limited:\n\nHeadquartered in India")
    assert "&lt;" not in job.description and "<p>" not in job.description
    assert job.client_country == "Bangalore; Karnataka, India" and job.client_budget is None
    assert job.posted_at == datetime(2026, 3, 6, 9, 36, 13, tzinfo=UTC)
    prospect = items["4353886003"]  # offices [] and metadata null
    assert prospect.client_country == "Bangalore" and prospect.category is None


def test_lever(http_server, http_client, allow_private_networks):
    result, items = _collect(http_server, http_client, allow_private_networks, "lever", _capture("lever"))
    assert len(result.items) == 13
    manager = items["fc6d0443-48a8-4535-9d2b-5f9b32a136e3"]  # the posting with 5 lists
    assert manager.title == "Engineering Manager- Data Platform" and manager.category == "Data Engineering"
    assert manager.url == "https://jobs.lever.co/meesho/fc6d0443-48a8-4535-9d2b-5f9b32a136e3"
    headings = ["What You Will Do", "What You Will Need", "Good to Have", "Leadership & Collaboration"]
    positions = [manager.description.index(f"\n{heading}\n") for heading in headings]
    assert positions == sorted(positions)
    assert manager.client_country == "On-site: Bangalore, Karnataka" and manager.client_name == "meesho"
    assert manager.posted_at == datetime(2026, 1, 28, 8, 52, 29, 213000, tzinfo=UTC)
    assert items["60e0d986-abe8-42ee-b172-0d9aecb307b7"].client_country == "Hybrid: Bangalore, Karnataka"
    assert items["122c2edd-ea44-41fd-a06f-ecc79588f6c6"].client_country == (
        "On-site: Mumbai, Maharashtra; Delhi, Delhi; Navi Mumbai, Maharashtra"
    )
    assert all(item.client_budget is None for item in result.items)  # this site shows no salaryRange


def test_ashby(http_server, http_client, allow_private_networks):
    result, items = _collect(http_server, http_client, allow_private_networks, "ashby", _capture("ashby"))
    assert len(result.items) == 18
    architect = items["0632eb6b-e99c-4e31-9a6a-c3bd36fc8512"]
    assert (architect.title, architect.category, architect.client_name) == (
        "Solution Architect",
        "Sales/GTM",
        "sarvam",
    )
    assert architect.url == "https://jobs.ashbyhq.com/sarvam/0632eb6b-e99c-4e31-9a6a-c3bd36fc8512"
    assert architect.client_country == "On-site: Delhi; Mumbai"
    assert architect.description.startswith("About Sarvam\n\nSarvam is building")
    assert architect.posted_at == datetime(2026, 5, 7, 6, 47, 11, 483000, tzinfo=UTC)
    assert all(item.client_budget is None for item in result.items)  # every tier list is empty


def test_smartrecruiters(http_server, http_client, allow_private_networks):
    result, items = _collect(
        http_server, http_client, allow_private_networks, "smartrecruiters", _capture("smartrecruiters")
    )
    assert len(result.items) == 3 and len(http_server.requests) == 1  # totalFound 3
    intern = items["744000141229015"]
    assert (intern.title, intern.client_name, intern.category) == (
        "Intern - Data Science",
        "Western Digital",
        "Engineering",
    )
    assert intern.url == "https://jobs.smartrecruiters.com/WesternDigital/744000141229015"
    assert intern.client_country == "Bayan Lepas, Penang, Malaysia"
    assert intern.posted_at == datetime(2026, 8, 3, 10, 34, 13, 38000, tzinfo=UTC)
    assert (
        items["744000141247940"].title == "環境・安全衛生マネージャー (Environmental Health & Safety Manager)"
    )


def test_workable(http_server, http_client, allow_private_networks):
    result, _items = _collect(
        http_server, http_client, allow_private_networks, "workable", _capture("workable")
    )
    [job] = result.items
    assert (job.external_id, job.title, job.client_name, job.category) == (
        "401786A940",
        "Implementation Manager",
        "Workable",
        "Operations",
    )
    assert job.url == "https://apply.workable.com/j/401786A940"
    assert job.client_country == "Boston, Massachusetts, United States"
    assert job.description.startswith("Workable is an all-in-one HR platform")
    assert job.posted_at == datetime(2026, 6, 22, tzinfo=UTC)


def test_recruitee(http_server, http_client, allow_private_networks):
    result, items = _collect(
        http_server, http_client, allow_private_networks, "recruitee", _capture("recruitee")
    )
    assert len(result.items) == 2
    success = items["2751915"]
    assert success.title == "Customer Success Manager Benelux - Dutch speaking"
    assert success.url == "https://jobs.channable.com/o/customer-success-manager-benelux-dutch-speaking-3"
    assert (success.client_budget, success.client_currency, success.budget_period) == (
        Decimal("5250.00"),
        "EUR",
        "month",
    )
    assert success.client_country == "Hybrid: Utrecht, Netherlands" and success.client_name == "Channable"
    assert "Your role" in success.description  # the requirements follow the description
    assert success.posted_at == datetime(2026, 9, 18, 13, 27, 28, tzinfo=UTC)
    people = items["2743511"]
    assert (people.client_budget, people.budget_period) == (Decimal("130000.00"), "year")


def test_working_nomads(http_server, http_client, allow_private_networks):
    _result, items = _collect(
        http_server, http_client, allow_private_networks, "workingnomads", _capture("workingnomads")
    )
    assert list(items) == ["1891955", "1889808", "1885527"]
    job = items["1891955"]
    assert (job.title, job.client_name, job.category) == (
        "Beekman Social - Account Manager",
        "Beekman Social",
        "Marketing",
    )
    assert job.url == "https://www.workingnomads.com/job/go/1891955/"
    assert job.client_country == "Remote, USA Only" and items["1889808"].client_country == "Remote: Brazil"
    assert job.required_skills[:2] == ["account manager", "client relationship"]
    assert job.posted_at == datetime(2026, 9, 25, 6, 36, 13, tzinfo=UTC)


def test_landing_jobs(http_server, http_client, allow_private_networks):
    result, items = _collect(
        http_server, http_client, allow_private_networks, "landingjobs", _capture("landingjobs")
    )
    assert len(result.items) == 3 and len(http_server.requests) == 1  # a short page is the last
    java = items["19066"]
    assert (java.title, java.client_name) == ("Senior Java Software Developer", "inscale")
    assert java.url == "https://landing.jobs/at/inscale/senior-java-software-developer-in-lisbon-2025"
    assert (java.client_budget, java.client_currency, java.budget_period) == (
        Decimal("67000.00"),
        "EUR",
        "year",
    )
    assert java.client_country == "Lisbon, PT" and "Spring Boot" in java.required_skills
    assert java.posted_at == datetime(2025, 2, 26, 9, 38, 38, 127000, tzinfo=UTC)
    assert items["19410"].client_country == "Munich, DE; Lisbon, PT; Cologne, DE"
    assert items["19366"].client_budget is None  # gross salaries null, currency still given


def _emptied(value: Any) -> Any:
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return "" if isinstance(value, str) else value


def _variant(job: dict[str, Any], kept: set[str], how: str) -> dict[str, Any]:
    if how == "missing":
        return {key: value for key, value in job.items() if key in kept}
    if how == "null":
        return {key: value if key in kept else None for key, value in job.items()}
    if how == "empty":
        return {key: value if key in kept else _emptied(value) for key, value in job.items()}
    # "nested null": every field of the objects inside a job (location, salary, categories) null
    return {
        key: {inner: None for inner in value} if isinstance(value, dict) and key not in kept else value
        for key, value in job.items()
    }


@pytest.mark.parametrize("how", ["missing", "null", "empty", "nested null"])
@pytest.mark.parametrize("source", sorted(CAPTURES))
def test_every_field_but_id_and_title_may_be_absent(
    source, how, http_server, http_client, allow_private_networks
):
    capture, _config, jobs_of, kept = CAPTURES[source]
    payload = json.loads((REAL / capture).read_bytes())
    jobs = jobs_of(payload)
    whole = {
        item.external_id: item.title
        for item in _collect(
            http_server, http_client, allow_private_networks, source, json.dumps(payload).encode()
        )[0].items
    }
    jobs[:] = [_variant(job, kept, how) for job in jobs]
    result, items = _collect(
        http_server, http_client, allow_private_networks, source, json.dumps(payload).encode()
    )
    assert {key: item.title for key, item in items.items()} == whole
    if how in ("missing", "null"):
        assert all(item.client_budget is None and item.posted_at is None for item in result.items)
        assert all(item.description is None for item in result.items)
