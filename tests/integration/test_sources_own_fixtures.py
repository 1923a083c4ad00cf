"""Every adapter through the local HTTP server on the project's own hand-written fixtures."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import SOURCE_KEYS, fetch_platform

FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
JSON_API_FIELDS = {
    "external_id": "ref",
    "title": "name",
    "description": "summary",
    "url": "links.web",
    "client_name": "client.name",
    "client_country": "client.country",
    "required_skills": "skills[].name",
    "category": "area",
    "client_budget": "pay.max",
    "client_currency": "pay.currency",
    "contract_type": "pay.kind",
    "posted_at": "created",
}


def _collect(source, config, http_client, settings, **kwargs):
    return fetch_platform(source, config, Fetcher(http_client, settings), **kwargs)


def _by_id(result):
    return {item.external_id: item for item in result.items}


def test_every_source_has_an_own_fixture_test():
    tested = {"rss", "remoteok", "remotive", "himalayas", "arbeitnow", "jobicy", "hn_freelancer"}
    tested |= {"freelancer_com", "json_api"}
    # The job boards' own-fixture tests are in test_board_sources_own_fixtures.py.
    tested |= {"greenhouse", "lever", "ashby", "smartrecruiters", "workable", "recruitee"}
    tested |= {"workingnomads", "landingjobs"}
    tested |= {"upwork"}  # on its documented shape: tests/integration/test_upwork_source.py
    assert set(SOURCE_KEYS) == tested


def test_remoteok(http_server, http_client, allow_private_networks):
    http_server.route_file("/api", FIXTURES / "remoteok.json", content_type="application/json")
    result = _collect("remoteok", {"url": http_server.url("/api")}, http_client, allow_private_networks)
    assert result.outcome == "ok" and result.http_status == 200
    items = _by_id(result)
    assert list(items) == ["9000001", "9000003"]  # legal notice and empty placeholder (9000002) skipped
    assert items["9000003"].client_budget is None  # salary 0 means "not stated"
    job = items["9000001"]
    assert job.title == "Python API Developer" and job.client_name == "Acme Robotics"
    assert job.description == "We\u2019re building robot APIs.\n\n- Django\n- Postgres"  # mojibake repaired
    assert (job.client_budget, job.client_currency, job.contract_type) == (Decimal("90000.00"), "USD", None)
    assert job.posted_at == datetime(2025, 12, 31, 12, 0, tzinfo=UTC)
    assert http_server.requests_to("/api")[0].headers["Accept"] == "application/json"


def test_remoteok_skips_empty_placeholders(http_server, http_client, allow_private_networks):
    # Remote OK serves jobs with an empty position (1130784 in the real capture): nothing to show.
    body = b'[{"legal": "x"}, {"id": "1", "position": "", "company": "", "url": "https://remoteok.com/1"}]'
    http_server.route("/api", body=body)
    result = _collect("remoteok", {"url": http_server.url("/api")}, http_client, allow_private_networks)
    assert result.outcome == "ok" and result.items == []


def test_remotive_sends_its_query_options(http_server, http_client, allow_private_networks):
    http_server.route_file("/remote-jobs", FIXTURES / "remotive.json")
    config = {
        "url": http_server.url("/remote-jobs"),
        "search": "django",
        "category": "software-dev",
        "limit": 50,
    }
    result = _collect("remotive", config, http_client, allow_private_networks)
    query = parse_qs(http_server.requests_to("/remote-jobs")[0].query)
    assert query == {"search": ["django"], "category": ["software-dev"], "limit": ["50"]}
    items = _by_id(result)
    assert len(items) == 3
    gig = items["7000001"]
    assert (gig.client_budget, gig.client_currency, gig.contract_type) == (Decimal("75.00"), "USD", "hourly")
    assert items["7000002"].client_budget == Decimal("5000.00") and items["7000002"].contract_type is None
    assert items["7000003"].description == "Docs & tutorials." and items["7000003"].client_budget is None
    assert gig.posted_at == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def test_himalayas_reads_milliseconds_and_seconds(http_server, http_client, allow_private_networks):
    http_server.route_file("/jobs/api", FIXTURES / "himalayas.json")
    result = _collect("himalayas", {"url": http_server.url("/jobs/api")}, http_client, allow_private_networks)
    go, support = result.items
    assert parse_qs(http_server.requests_to("/jobs/api")[0].query) == {"limit": ["20"]}
    assert go.posted_at == datetime(2025, 12, 31, 11, 20, tzinfo=UTC)
    assert support.posted_at == datetime(2025, 12, 30, 11, 20, tzinfo=UTC)
    assert (go.client_budget, go.client_currency, go.category) == (Decimal("150000.00"), "EUR", "Developer")
    assert go.required_skills == ["Go Development", "Backend Engineering"]
    assert support.client_budget is None and support.client_currency is None


def test_arbeitnow_follows_next_links_on_the_same_host_only(http_server, http_client, allow_private_networks):
    http_server.route_file("/arbeitnow/job-board-api", FIXTURES / "arbeitnow_page1.json", etag='"p1"')
    http_server.route_file("/arbeitnow/job-board-api?page=2", FIXTURES / "arbeitnow_page2.json")
    config = {"url": http_server.url("/arbeitnow/job-board-api")}
    result = _collect("arbeitnow", config, http_client, allow_private_networks)
    assert [item.external_id for item in result.items] == [
        "freelance-vue-developer-berlin-100001",
        "data-engineer-hamburg-100002",  # on both pages, kept once
        "ux-researcher-munich-100003",
    ]
    assert [request.query for request in http_server.requests] == [
        "",
        "page=2",
    ]  # elsewhere.example not fetched
    assert result.etag == '"p1"'
    again = _collect("arbeitnow", config, http_client, allow_private_networks, etag='"p1"')
    assert again.outcome == "not_modified" and len(http_server.requests) == 3


def test_arbeitnow_stops_at_max_pages(http_server, http_client, allow_private_networks):
    http_server.route_file("/arbeitnow/job-board-api", FIXTURES / "arbeitnow_page1.json")
    config = {"url": http_server.url("/arbeitnow/job-board-api"), "max_pages": 1}
    result = _collect("arbeitnow", config, http_client, allow_private_networks)
    assert len(result.items) == 2 and len(http_server.requests) == 1


def test_jobicy(http_server, http_client, allow_private_networks):
    http_server.route_file("/remote-jobs", FIXTURES / "jobicy.json")
    config = {"url": http_server.url("/remote-jobs"), "tag": "python", "geo": "usa", "count": 20}
    result = _collect("jobicy", config, http_client, allow_private_networks)
    assert parse_qs(http_server.requests_to("/remote-jobs")[0].query) == {
        "count": ["20"],
        "geo": ["usa"],
        "tag": ["python"],
    }
    items = _by_id(result)
    wordpress = items["500001"]
    assert wordpress.title == "WordPress Developer & Maintainer"
    assert (wordpress.client_budget, wordpress.contract_type) == (Decimal("45.00"), "hourly")
    assert items["500002"].category == "Finance & Accounting" and items["500002"].client_currency == "GBP"


@pytest.mark.parametrize(("thread", "story_id"), [("freelancer", "46000002"), ("hiring", "46000001")])
def test_hn_picks_the_newest_matching_thread(
    thread, story_id, http_server, http_client, allow_private_networks
):
    http_server.route_file("/api/v1/search_by_date", FIXTURES / "hn_stories.json")
    http_server.route_file("/api/v1/search", FIXTURES / "hn_comments.json")
    config = {"base_url": http_server.url("/api/v1"), "thread": thread, "hits_per_page": 500}
    _collect("hn_freelancer", config, http_client, allow_private_networks)
    stories, comments = http_server.requests
    assert parse_qs(stories.query)["tags"] == ["story,author_whoishiring"]
    assert parse_qs(comments.query) == {"tags": [f"comment,story_{story_id}"], "hitsPerPage": ["500"]}


def test_hn_keeps_top_level_seeking_freelancer_posts(http_server, http_client, allow_private_networks):
    http_server.route_file("/api/v1/search_by_date", FIXTURES / "hn_stories.json")
    http_server.route_file("/api/v1/search", FIXTURES / "hn_comments.json")
    config = {"base_url": http_server.url("/api/v1")}
    result = _collect("hn_freelancer", config, http_client, allow_private_networks)
    items = _by_id(result)
    assert list(items) == ["46000101", "46000104"]  # the reply and the SEEKING WORK post are not work
    post = items["46000101"]
    assert post.title == "SEEKING FREELANCER | Remote | Python / Django | $60/hr"
    assert post.url == "https://news.ycombinator.com/item?id=46000101"
    assert (post.client_budget, post.contract_type) == (Decimal("60.00"), "hourly")
    assert items["46000104"].client_currency == "EUR"

    everyone = _collect(
        "hn_freelancer", {**config, "skip_seeking_work": False}, http_client, allow_private_networks
    )
    assert len(everyone.items) == 3


def test_hn_without_a_matching_story_is_permanent(http_server, http_client, allow_private_networks):
    http_server.route("/api/v1/search_by_date", body=b'{"hits": []}')
    with pytest.raises(PermanentSourceError, match="no story titled"):
        _collect(
            "hn_freelancer", {"base_url": http_server.url("/api/v1")}, http_client, allow_private_networks
        )


def test_freelancer_com(http_server, http_client, allow_private_networks):
    http_server.route_file("/api/projects/0.1/projects/active/", FIXTURES / "freelancer_com.json")
    config = {
        "url": http_server.url("/api/projects/0.1/projects/active/"),
        "query": "python",
        "project_types": ["fixed", "hourly"],
    }
    result = _collect("freelancer_com", config, http_client, allow_private_networks)
    query = parse_qs(http_server.requests[0].query)
    assert query["query"] == ["python"] and query["project_types[]"] == ["fixed", "hourly"]
    assert query["job_details"] == ["true"] and query["full_description"] == ["true"]
    items = _by_id(result)
    scraper = items["39000001"]
    assert scraper.url == "https://www.freelancer.com/projects/python/scrape-product-prices-into-spreadsheet"
    assert (scraper.client_budget, scraper.client_currency, scraper.contract_type) == (
        Decimal("750.00"),
        "USD",
        "fixed_price",
    )
    assert scraper.required_skills == ["Python", "Web Scraping"]
    assert items["39000002"].contract_type == "hourly" and items["39000003"].client_budget == Decimal(
        "1500.00"
    )


def test_freelancer_com_error_status_is_permanent(http_server, http_client, allow_private_networks):
    http_server.route("/active", body=b'{"status": "error", "message": "Invalid query", "error_code": "X"}')
    with pytest.raises(PermanentSourceError, match="Invalid query"):
        _collect("freelancer_com", {"url": http_server.url("/active")}, http_client, allow_private_networks)


def test_json_api_with_templated_secret_header(http_server, http_client, allow_private_networks):
    http_server.route_file("/v1/jobs", FIXTURES / "json_api.json")
    config = {
        "url": http_server.url("/v1/jobs"),
        "params": {"q": "rust", "key": "{api_key}"},
        "headers": {"Authorization": "Bearer {api_key}"},
        "items": "data.jobs",
        "fields": JSON_API_FIELDS,
    }
    result = _collect(
        "json_api", config, http_client, allow_private_networks, secrets={"api_key": "t0k3n-abc"}
    )
    request = http_server.requests[0]
    assert request.headers["Authorization"] == "Bearer t0k3n-abc"
    assert parse_qs(request.query) == {"q": ["rust"], "key": ["t0k3n-abc"]}
    cli, translation = result.items
    assert (cli.external_id, cli.title, cli.description, cli.client_country) == (
        "A-1",
        "Rust CLI tool",
        "Build a CLI.",
        "US",
    )
    assert (cli.client_budget, cli.contract_type, cli.required_skills) == (
        Decimal("1200.00"),
        "fixed_price",
        ["Rust", "CLI"],
    )
    assert (translation.client_budget, translation.client_currency, translation.contract_type) == (
        Decimal("30.00"),
        "EUR",
        "hourly",
    )


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "rss_upwork.xml",
            {"Python script to clean CSV exports": (Decimal("150.00"), "fixed_price", "Canada")},
        ),
        ("rss_wwr.xml", {"Senior Elixir Engineer": (None, None, "Portugal")}),
        ("atom.xml", {"Kotlin Android bug fixes": (None, None, None)}),
    ],
)
def test_rss_layouts(fixture, expected, http_server, http_client, allow_private_networks):
    http_server.route_file("/feed", FIXTURES / fixture, content_type="application/rss+xml", gzip=True)
    result = _collect("rss", {"url": http_server.url("/feed")}, http_client, allow_private_networks)
    assert len(result.items) == 2
    items = {item.title: item for item in result.items}
    for title, (budget, contract, country) in expected.items():
        item = items[title]
        assert (item.client_budget, item.contract_type, item.client_country) == (budget, contract, country)
    assert "application/rss+xml" in http_server.requests[0].headers["Accept"]


def test_rss_upwork_and_wwr_fields(http_server, http_client, allow_private_networks):
    http_server.route_file("/upwork", FIXTURES / "rss_upwork.xml")
    http_server.route_file("/wwr", FIXTURES / "rss_wwr.xml")
    upwork = _collect("rss", {"url": http_server.url("/upwork")}, http_client, allow_private_networks).items
    hourly = upwork[1]
    assert hourly.title == "Ongoing Django support & fixes"
    assert (hourly.client_budget, hourly.client_currency, hourly.contract_type) == (
        Decimal("40.00"),
        "USD",
        "hourly",
    )
    assert hourly.required_skills == ["Django", "PostgreSQL"]
    assert hourly.category == "Web, Mobile & Software Dev > Web Development"
    assert hourly.description == "Long-term help with a Django shop."
    wwr = _collect("rss", {"url": http_server.url("/wwr")}, http_client, allow_private_networks).items[0]
    assert (wwr.client_name, wwr.required_skills, wwr.category) == (
        "Initrode",
        ["Elixir", "Phoenix", "PostgreSQL"],
        "Back-End Programming",
    )
    assert wwr.raw["region"] == "Europe Only" and wwr.raw["type"] == "Contract"


def test_rss_reads_a_json_feed(http_server, http_client, allow_private_networks):
    """JSON Feed 1.1 (1.0's ``author`` too): ids, relative links resolved against the feed's URL,
    HTML or plain text, dates, authors and tags; an item without id or URL is skipped."""
    http_server.route_file(
        "/gigs/feed.json", FIXTURES / "json_feed.json", content_type="application/feed+json"
    )
    result = _collect("rss", {"url": http_server.url("/gigs/feed.json")}, http_client, allow_private_networks)
    items = _by_id(result)
    assert list(items) == ["gig-101", "102", "https://gigs.example.org/gigs/103"]
    django = items["gig-101"]
    assert django.url == http_server.url("/gigs/101")
    assert (django.title, django.description) == (
        "Django API for a booking site",
        "Build a REST API.\n\nRemote, 3 months.",
    )
    assert django.posted_at == datetime(2026, 11, 28, 8, 30, tzinfo=UTC)
    assert (django.client_name, django.category) == ("Acme Travel", "Web Development")
    ci = items["102"]
    assert (ci.title, ci.url, ci.client_name) == (
        "Fix a flaky CI pipeline",
        "https://elsewhere.example.com/jobs/102",
        "Bob",
    )
    assert ci.description == "Fix a flaky CI pipeline\nGitHub Actions, Python."
    assert ci.posted_at == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    assert items["https://gigs.example.org/gigs/103"].description == "Short gig."
    assert "application/feed+json" in http_server.requests[0].headers["Accept"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"jobs": []}', "JSON, but not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "invalid JSON"),
        (b"[" * 5 + b"]" * 5, "not an RSS, Atom or JSON feed"),
    ],
)
def test_rss_refuses_json_that_is_not_a_json_feed(
    body, says, http_server, http_client, allow_private_networks
):
    http_server.route("/feed", body=body, content_type="application/json")
    with pytest.raises(PermanentSourceError, match=says):
        _collect("rss", {"url": http_server.url("/feed")}, http_client, allow_private_networks)


def test_rss_resolves_relative_links_against_the_feed(http_server, http_client, allow_private_networks):
    feed = (
        b'<rss version="2.0"><channel><title>t</title>'
        b"<item><title>Relative</title><link>/jobs/7</link></item>"
        b"<item><title>Absolute</title><link>https://example.org/jobs/8</link></item></channel></rss>"
    )
    http_server.route("/feeds/all.xml", body=feed, content_type="application/rss+xml")
    result = _collect("rss", {"url": http_server.url("/feeds/all.xml")}, http_client, allow_private_networks)
    assert [item.url for item in result.items] == [http_server.url("/jobs/7"), "https://example.org/jobs/8"]


def test_filters_apply_through_fetch_platform(http_server, http_client, allow_private_networks):
    http_server.route_file("/remote-jobs", FIXTURES / "remotive.json")
    config = {
        "url": http_server.url("/remote-jobs"),
        "keywords": ["django", "figma"],
        "exclude_keywords": ["admin"],
    }
    result = _collect("remotive", config, http_client, allow_private_networks)
    assert [item.title for item in result.items] == ["Brand Designer"]
    assert result.filtered_out == 2
