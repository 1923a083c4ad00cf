"""Every adapter through the local HTTP server against REAL third-party captures.

The captures are read in place from ``../shared/fixtures/real`` (see its PROVENANCE.md) and
never copied into this repository. Expected values below were read from the captures
themselves: one known job per source (title, url, budget, posted_at) plus the item count.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import fetch_platform

REAL = Path(__file__).parents[2].parent / "shared" / "fixtures" / "real"

pytestmark = [
    pytest.mark.real_capture,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real captures folder {REAL} is absent"),
]


def _serve_and_collect(http_server, http_client, settings, source, capture, config=None):
    http_server.route_file("/capture", REAL / capture)
    config = {"url": http_server.url("/capture"), **(config or {})}
    result = fetch_platform(source, config, Fetcher(http_client, settings))
    assert result.outcome == "ok"
    return result, {item.external_id: item for item in result.items}


def test_remoteok(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server, http_client, allow_private_networks, "remoteok", "remoteok/remoteok_api_2026-03-17.json"
    )
    # 30 jobs after the legal notice; one (1130784) is an empty placeholder without a position.
    assert len(result.items) == 29 and "1130784" not in items
    job = items["1130780"]
    assert job.title == "VP Corporate Marketing Brand & Communications"
    assert (
        job.url
        == "https://remoteOK.com/remote-jobs/remote-vp-corporate-marketing-brand-communications-blackpoint-cyber-1130780"
    )
    assert (job.client_budget, job.client_currency) == (Decimal("210000.00"), "USD")
    assert job.posted_at == datetime(2026, 3, 14, 16, 0, 4, tzinfo=UTC)
    assert "What You\u2019ll Do" in items["1130788"].description  # served double-encoded, repaired


def test_remotive(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "remotive",
        "remotive/remotive_remote-jobs_2026-06-10.json",
    )
    assert len(result.items) == 19
    job = items["1185979"]
    assert job.title == "Freelance Writer" and job.client_name == "IAPWE"
    assert job.url == "https://remotive.com/remote-jobs/writing/freelance-writer-1185979"
    assert (job.client_budget, job.client_currency, job.contract_type) == (Decimal("75.00"), "USD", "hourly")
    assert job.posted_at == datetime(2026, 6, 4, 17, 0, 49, tzinfo=UTC)
    assert items["2090942"].client_budget == Decimal("12000.00")  # "$12K"


def test_himalayas(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "himalayas",
        "himalayas/himalayas_jobs_api_2026-05-17.json",
    )
    assert len(result.items) == 20
    url = "https://himalayas.app/companies/very-llc/jobs/senior-software-engineer-python-contractor"
    job = items[url]
    assert job.title == "Senior Software Engineer (Python) - Contractor" and job.url == url
    assert (job.client_budget, job.client_currency) == (Decimal("124800.00"), "USD")
    assert job.posted_at == datetime(2026, 5, 17, 3, 54, 18, tzinfo=UTC)
    assert "Python Developer" in job.required_skills


def test_arbeitnow(http_server, http_client, allow_private_networks):
    # This capture lost the links/meta envelope, so there is no next page to follow.
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "arbeitnow",
        "arbeitnow/arbeitnow_job-board-api_2026-02.json",
    )
    assert len(result.items) == 30 and len(http_server.requests) == 1
    job = items["google-ads-growth-manager-freelance-gesucht-hamburg-310510"]
    assert job.title == "Google Ads Growth Manager (m/w/d) - Freelance gesucht"
    assert job.url == (
        "https://www.arbeitnow.com/jobs/companies/provipanda-gmbh/google-ads-growth-manager-freelance-gesucht-hamburg-310510"
    )
    assert job.client_budget is None
    assert job.posted_at == datetime(2026, 2, 14, 15, 31, 29, tzinfo=UTC)


def test_jobicy(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "jobicy",
        "jobicy/jobicy_v2_remote-jobs_2026-06-10.json",
    )
    assert len(result.items) == 8
    job = items["145954"]
    assert job.title == "Credit Risk Manager, Flex Originations" and job.client_name == "Monzo"
    assert job.url == "https://jobicy.com/jobs/145954-credit-risk-manager-flex-originations"
    assert (job.client_budget, job.client_currency, job.category) == (
        Decimal("130000.00"),
        "GBP",
        "Finance & Accounting",
    )
    assert job.posted_at == datetime(2026, 6, 10, 5, 43, 24, tzinfo=UTC)


def test_rss_we_work_remotely(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "rss",
        "weworkremotely/wwr_remote-programming-jobs_2026-06.xml",
    )
    assert len(result.items) == 25
    url = "https://weworkremotely.com/remote-jobs/stellar-ai-senior-software-engineer"
    job = items[url]
    assert (job.title, job.client_name, job.url) == ("Senior Software Engineer", "Stellar AI", url)
    assert job.category == "Full-Stack Programming" and job.raw["region"] == "Anywhere in the World"
    assert job.client_budget is None
    assert job.posted_at == datetime(2025, 10, 21, 19, 36, 26, tzinfo=UTC)
    assert "$70 per hour" in job.description


def test_rss_upwork(http_server, http_client, allow_private_networks):
    result, items = _serve_and_collect(
        http_server,
        http_client,
        allow_private_networks,
        "rss",
        "upwork/upwork_topics_rss_android_2018-03-07.xml",
    )
    assert len(result.items) == 30
    url = "https://www.upwork.com/jobs/IONIC-Mobile-App-Development_%7E010075b4f6aa3d8406?source=rss"
    job = items[url]
    assert (job.title, job.url) == ("IONIC Mobile App Development", url)
    assert (job.client_budget, job.client_currency, job.contract_type) == (
        Decimal("300.00"),
        "USD",
        "fixed_price",
    )
    assert (job.client_country, job.category) == (
        "Malaysia",
        "Web, Mobile & Software Dev > Mobile Development",
    )
    assert job.posted_at == datetime(2018, 3, 7, 2, 42, 15, tzinfo=UTC)
    first = result.items[0]
    assert first.required_skills == ["Django", "MySQL Programming", "Node.js", "Python"]
    assert "Posted On" not in first.description and not first.title.endswith("- Upwork")


def test_hn_who_is_hiring(http_server, http_client, allow_private_networks):
    http_server.route_file(
        "/search_by_date", REAL / "hn_algolia/hn_algolia_search_whoishiring_stories_2026-05.json"
    )
    http_server.route_file("/search", REAL / "hn_algolia/hn_algolia_search_comments_story_47975571.json")
    config = {"base_url": http_server.url("/"), "thread": "hiring"}
    result = fetch_platform("hn_freelancer", config, Fetcher(http_client, allow_private_networks))
    # The newest "Who is hiring?" story in the capture is May 2026 (47975571).
    assert http_server.requests_to("/search")[0].query.startswith("tags=comment%2Cstory_47975571")
    # 30 hits, of which 8 are top-level posts (parent_id == story_id); the rest are replies.
    assert len(result.items) == 8
    job = {item.external_id: item for item in result.items}["48123123"]
    assert job.title.startswith(
        "Furtim Modus | Hiring Java Developer (Full-Time) | NYC (HYBRID) | $125K-$200K"
    )
    assert job.url == "https://news.ycombinator.com/item?id=48123123"
    assert (job.client_budget, job.client_currency) == (Decimal("200000.00"), "USD")
    assert job.posted_at == datetime(2026, 5, 13, 15, 20, 48, tzinfo=UTC)
