"""The job-board adapters (applicant-tracking boards, Working Nomads, Landing.jobs) through the
local HTTP server on the project's own hand-written fixtures: budgets with their periods, where
(remote, hybrid, on-site and locations), dates, paging, and the fields one board has and another
lacks (missing, null, empty)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import fetch_platform

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"


def _collect(source, config, http_server, http_client, settings, **kwargs):
    return fetch_platform(source, config, Fetcher(http_client, settings), **kwargs)


def _serve(http_server, path, fixture):
    http_server.route_file(path, FIXTURES / fixture, content_type="application/json")
    return http_server.url(path)


def _by_id(result):
    return {item.external_id: item for item in result.items}


def _budget(item):
    return (item.client_budget, item.client_currency, item.budget_period, item.contract_type)


def test_greenhouse(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/v1/boards/acme/jobs", "greenhouse.json")
    result = _collect("greenhouse", {"url": url}, http_server, http_client, allow_private_networks)
    assert parse_qs(http_server.requests[0].query) == {"content": ["true"]}
    items = _by_id(result)
    assert list(items) == ["4000001", "4000002", "4000003", "4000004"]
    job = items["4000001"]
    # Escaped twice by Greenhouse: "&amp;amp;" is one "&" once read.
    assert job.description == "Build robot APIs & tools.\n\n- Django"
    assert (job.title, job.client_name, job.category) == ("Python Contractor", "Acme Robotics", "Engineering")
    assert job.client_country == "Remote - US; United States"
    assert job.posted_at == datetime(2026, 11, 18, 14, 30, tzinfo=UTC)
    assert job.client_budget is None
    bare = items["4000002"]  # null location, no offices or departments, no content, no first_published
    assert (bare.description, bare.client_country, bare.category) == (None, None, None)
    assert bare.posted_at == datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert items["4000003"].client_country == "Hybrid - Berlin" and items["4000003"].url is None
    # A board serving plain HTML: not unescaped again, so its text keeps "<div>".
    assert items["4000004"].description == "Explain <div> tags & more."


def test_lever(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/v0/postings/acme", "lever.json")
    config = {"url": url, "board": "acme"}
    result = _collect("lever", config, http_server, http_client, allow_private_networks)
    assert parse_qs(http_server.requests[0].query) == {"mode": ["json"]}
    items = _by_id(result)
    go = items["aaaaaaaa-0000-4000-8000-000000000001"]
    assert go.description == (
        "We run Go services.\n\nWhat you will do\n\n- Own the API\n- Review code\n\nStack\n\nApply by January."
    )
    assert _budget(go) == (Decimal("95000.00"), "EUR", "year", None)
    assert go.client_country == "Remote: Berlin; Remote - EU"
    assert (go.client_name, go.category) == ("acme", "Platform")
    assert go.posted_at == datetime(2026, 1, 1, tzinfo=UTC)
    support = items["aaaaaaaa-0000-4000-8000-000000000002"]  # no lists, no HTML, max null
    assert support.description == "Answer tickets."
    assert _budget(support) == (Decimal("25.00"), "USD", "hour", "hourly")
    assert support.client_country == "Lisbon"  # "unspecified" says nothing
    office = items["aaaaaaaa-0000-4000-8000-000000000003"]  # categories and salaryRange null
    assert (office.client_country, office.client_budget, office.posted_at, office.url) == (
        "Hybrid",
        None,
        None,
        None,
    )


def test_ashby_keeps_listed_jobs_and_reads_compensation(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/posting-api/job-board/acme", "ashby.json")
    result = _collect("ashby", {"url": url}, http_server, http_client, allow_private_networks)
    assert parse_qs(http_server.requests[0].query) == {"includeCompensation": ["true"]}
    items = _by_id(result)
    assert "bbbbbbbb-0000-4000-8000-000000000003" not in items and len(items) == 3  # isListed false
    data = items["bbbbbbbb-0000-4000-8000-000000000001"]
    assert _budget(data) == (Decimal("85000.00"), "EUR", "year", None)  # the salary, not the equity
    assert data.client_country == "Hybrid: Amsterdam; Rotterdam" and data.category == "Data"
    assert data.description == "Pipelines & warehouses."
    assert data.posted_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    illustrator = items["bbbbbbbb-0000-4000-8000-000000000002"]  # only a tier; isRemote, no workplaceType
    assert _budget(illustrator) == (Decimal("60.00"), "USD", "hour", "hourly")
    assert illustrator.client_country == "Remote"
    courier = items["bbbbbbbb-0000-4000-8000-000000000004"]  # "2 WEEK" is no period of ours
    assert _budget(courier) == (Decimal("1500.00"), "GBP", None, None)
    assert courier.client_country == "On-site" and courier.client_name is None  # no board configured


def test_smartrecruiters_pages_by_offset_until_total_found(http_server, http_client, allow_private_networks):
    path = "/v1/companies/AcmeRobotics/postings"
    http_server.route_file(path, FIXTURES / "smartrecruiters_page1.json", etag='"p1"')
    http_server.route_file(f"{path}?q=firmware&offset=2&limit=2", FIXTURES / "smartrecruiters_page2.json")
    config = {"url": http_server.url(path), "query": "firmware", "page_size": 2, "max_pages": 5}
    result = _collect("smartrecruiters", config, http_server, http_client, allow_private_networks)
    # totalFound 3: two pages of two, then no third request.
    assert [request.query for request in http_server.requests] == [
        "q=firmware&offset=0&limit=2",
        "q=firmware&offset=2&limit=2",
    ]
    assert result.etag == '"p1"'
    items = _by_id(result)
    firmware = items["700000000000001"]
    assert firmware.url == "https://jobs.smartrecruiters.com/AcmeRobotics/700000000000001"
    assert (firmware.client_name, firmware.category) == ("Acme Robotics", "Engineering")
    assert firmware.client_country == "Remote: Austin, TX, United States"
    assert firmware.posted_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert items["700000000000002"].client_country == "Hybrid: Madrid, es"  # no fullLocation
    assert items["700000000000002"].category == "Finance"
    plant = items["700000000000003"]  # company, location, function and date null
    assert (plant.url, plant.client_name, plant.client_country, plant.posted_at) == (None, None, None, None)

    again = _collect("smartrecruiters", config, http_server, http_client, allow_private_networks, etag='"p1"')
    assert again.outcome == "not_modified" and len(http_server.requests) == 3


def test_smartrecruiters_stops_at_max_pages(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/postings", "smartrecruiters_page1.json")
    config = {"url": url, "page_size": 2, "max_pages": 1}
    result = _collect("smartrecruiters", config, http_server, http_client, allow_private_networks)
    assert len(result.items) == 2 and len(http_server.requests) == 1


def test_workable(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/api/v1/widget/accounts/acme", "workable.json")
    result = _collect("workable", {"url": url}, http_server, http_client, allow_private_networks)
    assert parse_qs(http_server.requests[0].query) == {"details": ["true"]}
    qa, lead = result.items
    assert (qa.external_id, qa.client_name, qa.category) == ("AB12CD34EF", "Acme Robotics", "Engineering")
    assert qa.client_country == "Remote: Athens, Attica, Greece; Portugal"
    assert qa.description == "Test everything." and qa.posted_at == datetime(2026, 11, 20, tzinfo=UTC)
    # telecommuting false says nothing more; no locations: the job's own city and country.
    assert lead.client_country == "Leeds, United Kingdom" and lead.category is None
    assert lead.description is None and lead.posted_at == datetime(2026, 11, 10, tzinfo=UTC)


def test_recruitee(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/api/offers/", "recruitee.json")
    config = {"url": url, "board": "acme"}
    result = _collect("recruitee", config, http_server, http_client, allow_private_networks)
    items = _by_id(result)
    django = items["1000001"]
    assert django.description == "Maintain our shop.\n\n- Django\n- PostgreSQL"
    assert _budget(django) == (Decimal("85.00"), "EUR", "hour", "hourly")  # numeric strings
    assert django.client_country == "Remote: Utrecht, Netherlands; Amsterdam, Netherlands"
    assert django.required_skills == ["Python", "Django"]
    assert django.posted_at == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    office = items["1000002"]  # salary all null, no locations, tags null, published_at null
    assert (office.client_budget, office.budget_period) == (None, None)
    assert office.client_country == "On-site: Berlin, Germany"
    assert office.posted_at == datetime(2026, 11, 18, 8, 0, tzinfo=UTC)
    sales = items["1000003"]  # max "" and min a number; no careers_url
    assert _budget(sales) == (Decimal("4000.00"), "EUR", "month", None)
    assert (sales.client_country, sales.description) == (None, None)
    assert sales.url == "https://acme.recruitee.com/o/sales-lead"


def test_working_nomads(http_server, http_client, allow_private_networks):
    url = _serve(http_server, "/api/exposed_jobs/", "workingnomads.json")
    result = _collect("workingnomads", {"url": url}, http_server, http_client, allow_private_networks)
    items = _by_id(result)
    python = items["2000001"]
    assert python.required_skills == ["python", "django", "api"]
    assert (python.client_name, python.category, python.client_country) == (
        "Acme",
        "Development",
        "Remote: Anywhere",
    )
    assert python.posted_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    support = items["2000002"]
    assert support.client_country == "Remote, Europe Only" and support.required_skills == []
    # A link without the job number: the link is the id; tags as a list read too.
    copywriter = items["https://www.workingnomads.com/jobs/unusual-link"]
    assert (copywriter.title, copywriter.required_skills) == ("Copywriter", ["copy", "seo"])


def test_landing_jobs_pages_until_a_short_page(http_server, http_client, allow_private_networks):
    http_server.route_file("/api/v1/jobs", FIXTURES / "landingjobs_page1.json")
    http_server.route_file("/api/v1/jobs?offset=2&limit=2", FIXTURES / "landingjobs_page2.json")
    config = {"url": http_server.url("/api/v1/jobs"), "page_size": 2}
    result = _collect("landingjobs", config, http_server, http_client, allow_private_networks)
    assert [request.query for request in http_server.requests] == ["offset=0&limit=2", "offset=2&limit=2"]
    items = _by_id(result)
    rails = items["30001"]
    assert _budget(rails) == (Decimal("55000.00"), "EUR", "year", None)
    assert (rails.client_name, rails.client_country) == ("acme-labs", "Remote: Porto, PT")
    assert rails.description == "Ship features.\n\n- Ruby\n\n- Remote"  # two lists
    assert rails.posted_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    analyst = items["30002"]  # no salary, no locations, not remote
    assert (analyst.client_budget, analyst.client_currency, analyst.client_country) == (None, None, None)
    assert analyst.posted_at == datetime(2026, 11, 18, 9, 0, tzinfo=UTC)
    # 800 cannot be a yearly salary: the amount stays, its period is unknown.
    assert _budget(items["30003"]) == (Decimal("800.00"), "EUR", None, None)
    assert items["30003"].client_country == "Braga"
