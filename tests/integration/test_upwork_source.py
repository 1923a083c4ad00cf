"""The ``upwork`` source against a loopback GraphQL server answering in the documented shape
(no real response has been published): what it sends, what it reads, and where each failure goes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from charlee_collector.core.errors import InvalidPlatformConfig, PermanentSourceError, RateLimited
from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import fetch_platform, validate_config
from tests.support.upwork_server import UpworkServer, job_node

TOKENS = {"access_token": "access-0"}


def collect(server: UpworkServer, client, settings, secrets=TOKENS, **config):
    config = {"url": server.url("/graphql"), **config}
    return fetch_platform("upwork", config, Fetcher(client, settings), secrets=secrets)


def test_reads_jobs_in_the_documented_shape(upwork_server, http_client, allow_private_networks) -> None:
    upwork_server.jobs = [job_node(1), job_node(2), job_node(3, description=None, client=None)]

    result = collect(upwork_server, http_client, allow_private_networks)

    hourly, fixed, bare = result.items
    assert (hourly.external_id, hourly.title) == ("1400000001", "Job 1: Python scraper")
    assert hourly.url == "https://www.upwork.com/jobs/~01abc0001"
    assert (hourly.client_budget, hourly.client_currency, hourly.contract_type, hourly.budget_period) == (
        Decimal("45.00"),
        "USD",
        "hourly",
        "hour",
    )
    assert (fixed.client_budget, fixed.contract_type, fixed.budget_period) == (
        Decimal("502.00"),
        "fixed_price",
        "fixed",
    )
    assert hourly.required_skills == ["Python", "Scrapy"] and hourly.client_country == "Germany"
    assert hourly.category == "Web Development" and hourly.description.startswith("Build scraper 1.")
    assert hourly.posted_at == datetime(2026, 6, 1, 11, tzinfo=UTC)
    assert hourly.raw["ciphertext"] == "~01abc0001"
    assert (bare.description, bare.client_country) == (None, None)


def test_sends_the_search_as_variables_with_the_token(
    upwork_server, http_client, allow_private_networks
) -> None:
    upwork_server.jobs = [job_node(1)]
    config = {
        "query": "python AND scraping",
        "category_ids": ["531770282580668418"],
        "job_type": "HOURLY",
        "experience_level": "EXPERT",
        "search_type": "JOBS_FEED",
        "sort": ["RELEVANCE", "RECENCY"],
        "filter": {"verifiedPaymentOnly_eq": True, "hourlyRate_eq": {"rangeStart": 30, "rangeEnd": 80}},
        "page_size": 20,
        "tenant_id": "424242",
    }
    collect(upwork_server, http_client, allow_private_networks, **config)

    [sent] = upwork_server.graphql_requests
    assert sent["authorization"] == "Bearer access-0"
    assert "marketplaceJobPostingsSearch(marketPlaceJobFilter: $filter" in sent["query"]
    assert sent["variables"] == {
        "filter": {
            "verifiedPaymentOnly_eq": True,
            "hourlyRate_eq": {"rangeStart": 30, "rangeEnd": 80},
            "searchExpression_eq": "python AND scraping",
            "categoryIds_any": ["531770282580668418"],
            "jobType_eq": "HOURLY",
            "experienceLevel_eq": "EXPERT",
            "pagination_eq": {"first": 20},
        },
        "searchType": "JOBS_FEED",
        "sort": [{"field": "RELEVANCE"}, {"field": "RECENCY"}],
    }


def test_follows_the_cursor_for_up_to_pages(upwork_server, http_client, allow_private_networks) -> None:
    upwork_server.jobs = [job_node(n) for n in range(1, 8)]

    result = collect(upwork_server, http_client, allow_private_networks, page_size=3, pages=2)

    assert [item.external_id for item in result.items] == [f"14{n:08d}" for n in range(1, 7)]
    cursors = [r["variables"]["filter"]["pagination_eq"] for r in upwork_server.graphql_requests]
    assert cursors == [{"first": 3}, {"first": 3, "after": "3"}]


def test_graphql_errors_with_http_200_are_a_permanent_failure_naming_them(
    upwork_server, http_client, allow_private_networks
) -> None:
    upwork_server.mode = "errors"
    with pytest.raises(
        PermanentSourceError, match="GraphQL errors: Variable 'searchType' has an invalid value"
    ) as raised:
        collect(upwork_server, http_client, allow_private_networks)
    assert "Validation error of type WrongType" in str(raised.value)


def test_429_is_rate_limited_until_retry_after(upwork_server, http_client, allow_private_networks) -> None:
    upwork_server.mode = "rate_limited"
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as raised:
        collect(upwork_server, http_client, allow_private_networks)
    assert raised.value.http_status == 429 and (raised.value.retry_at - before).total_seconds() >= 119


def test_an_expired_token_is_a_401_the_collector_can_tell(
    upwork_server, http_client, allow_private_networks
) -> None:
    with pytest.raises(PermanentSourceError) as raised:
        collect(upwork_server, http_client, allow_private_networks, secrets={"access_token": "access-old"})
    assert raised.value.http_status == 401 and "access-old" not in str(raised.value)


def test_without_an_access_token_it_says_to_authorize(
    upwork_server, http_client, allow_private_networks
) -> None:
    with pytest.raises(PermanentSourceError, match="upwork authorize"):
        collect(upwork_server, http_client, allow_private_networks, secrets={})
    assert upwork_server.graphql_requests == []


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"job_type": "hourly"}, "job_type"),
        ({"sort": ["RECENCY; DROP"]}, "sort"),
        ({"filter": {"pagination_eq": {"first": 5}}}, "set by the config's own fields"),
        ({"filter": {"searchExpression_eq": "x"}, "query": "y"}, "searchExpression_eq"),
        ({"filter": {"not a field": 1}}, "filter"),
        ({"pages": 11}, "pages"),
    ],
)
def test_config_is_checked_before_any_request(config, says) -> None:
    with pytest.raises(InvalidPlatformConfig, match=says):
        validate_config("upwork", config)


def test_request_body_never_splices_config_into_the_query() -> None:
    from charlee_collector.sources.upwork import QUERY, request_body

    body = json.loads(request_body(validate_config("upwork", {"query": '"} mutation { x }'})))
    assert (
        body["query"] == QUERY and body["variables"]["filter"]["searchExpression_eq"] == '"} mutation { x }'
    )


def test_a_redirected_post_is_not_followed(http_server, http_client, allow_private_networks) -> None:
    http_server.redirect("/graphql", "/elsewhere", status=307)
    http_server.route("/elsewhere", body=b'{"data": {}}')
    with pytest.raises(PermanentSourceError, match="redirected a POST") as raised:
        fetch_platform(
            "upwork",
            {"url": http_server.url("/graphql")},
            Fetcher(http_client, allow_private_networks),
            secrets=TOKENS,
        )
    assert raised.value.http_status == 307 and http_server.requests_to("/elsewhere") == []
