"""A payload of the wrong shape (another API's, or an upstream field rename) is a failed
collection naming what was expected and what was found, not a healthy collection of nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.fetching.client import Fetcher
from charlee_collector.sources import fetch_platform
from tests.support.cli import Cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"

# (source, another API's fixture, what the error names as expected, what it names as found)
PAIRS = [
    (
        "jobicy",
        "remotive.json",
        '"jobs" list of objects with "id" and "jobTitle"',
        'the first with keys "id", "url", "title"',
    ),
    (
        "himalayas",
        "remotive.json",
        '"jobs" list of objects with "guid" and "title"',
        'the first with keys "id", "url", "title"',
    ),
    (
        "remotive",
        "himalayas.json",
        '"jobs" list of objects with "id" and "title"',
        'the first with keys "title", "excerpt"',
    ),
    ("remotive", "jobicy.json", '"jobs" list of objects with "id" and "title"', '"jobSlug", "jobTitle"'),
    (
        "himalayas",
        "arbeitnow_page1.json",
        '"jobs" list',
        'keys "data", "links", "meta" (2 records under "data"',
    ),
    ("arbeitnow", "remotive.json", '"data" list', '3 records under "jobs" with keys "id", "url"'),
    ("remoteok", "jobicy.json", "a JSON array of objects", '3 records under "jobs"'),
    (
        "greenhouse",
        "jobicy.json",
        '"jobs" list of objects with "id" and "title"',
        '"jobSlug", "jobTitle"',
    ),
    (
        "ashby",
        "himalayas.json",
        '"jobs" list of objects with "id" and "title"',
        'the first with keys "title"',
    ),
    ("lever", "greenhouse.json", 'a JSON array of postings with "id" and "text"', 'keys "jobs", "meta"'),
    ("lever", "workingnomads.json", '"id" and "text"', 'the first with keys "url", "title"'),
    ("smartrecruiters", "greenhouse.json", '"content" list', 'keys "jobs", "meta"'),
    ("workable", "lever.json", '"jobs" list of objects with "shortcode"', "3 records, the first with keys"),
    (
        "workable",
        "greenhouse.json",
        '"shortcode" and "title"',
        '4 records, the first with keys "absolute_url"',
    ),
    ("recruitee", "ashby.json", '"offers" list', 'keys "apiVersion", "jobs"'),
    (
        "workingnomads",
        "lever.json",
        '"url" and "title"',
        'the first with keys "id", "text", "hostedUrl"',
    ),
    ("landingjobs", "recruitee.json", 'a JSON array of jobs with "id" and "title"', 'keys "offers"'),
    ("landingjobs", "lever.json", '"id" and "title"', 'the first with keys "id", "text"'),
]


def _fetch(source: str, body: bytes, http_server, http_client, allow_private_networks, config=None):
    http_server.route("/payload", body=body)
    return fetch_platform(
        source,
        {"url": http_server.url("/payload"), **(config or {})},
        Fetcher(http_client, allow_private_networks),
    )


@pytest.mark.parametrize(("source", "fixture", "expected", "found"), PAIRS)
def test_another_apis_payload_is_permanent_with_what_was_found(
    source, fixture, expected, found, http_server, http_client, allow_private_networks
):
    body = (FIXTURES / fixture).read_bytes()
    with pytest.raises(PermanentSourceError) as caught:
        _fetch(source, body, http_server, http_client, allow_private_networks)
    message = str(caught.value)
    assert message.startswith(f"{source} payload could not be parsed: expected ")
    assert expected in message.split(", found ", 1)[0] and found in message.split(", found ", 1)[1]


def test_an_upstream_field_rename_is_permanent(http_server, http_client, allow_private_networks):
    payload = json.loads((FIXTURES / "remotive.json").read_bytes())
    for job in payload["jobs"]:
        job["job_id"], job["link"] = job.pop("id"), job.pop("url")
    with pytest.raises(
        PermanentSourceError,
        match=r'expected .*"id" and "title", found 3 records, the first with keys "title"',
    ):
        _fetch("remotive", json.dumps(payload).encode(), http_server, http_client, allow_private_networks)


def test_json_api_names_its_items_expression(http_server, http_client, allow_private_networks):
    body = (FIXTURES / "remotive.json").read_bytes()
    config = {"items": "jobs", "fields": {"external_id": "job_id", "url": "link"}}
    with pytest.raises(PermanentSourceError) as caught:
        _fetch("json_api", body, http_server, http_client, allow_private_networks, config)
    assert (
        "expected the items expression 'jobs' to select objects with external_id 'job_id' and title 'title'"
        in str(caught.value)
    )


@pytest.mark.parametrize(
    ("source", "body"),
    [
        ("jobicy", b'{"jobs": []}'),
        ("remotive", b'{"jobs": []}'),
        ("arbeitnow", b'{"data": []}'),
        ("remoteok", b'[{"legal": "x"}]'),
        ("greenhouse", b'{"jobs": [], "meta": {"total": 0}}'),
        ("lever", b"[]"),
        ("ashby", b'{"jobs": [{"id": "1", "title": "Hidden", "isListed": false}]}'),
        ("smartrecruiters", b'{"offset": 0, "limit": 100, "totalFound": 0, "content": []}'),
        ("workable", b'{"name": "Acme", "jobs": []}'),
        ("recruitee", b'{"offers": []}'),
        ("workingnomads", b"[]"),
        ("landingjobs", b"[]"),
    ],
)
def test_an_empty_list_is_still_a_healthy_empty_collection(
    source, body, http_server, http_client, allow_private_networks
):
    result = _fetch(source, body, http_server, http_client, allow_private_networks)
    assert (result.outcome, result.items) == ("ok", [])


def test_each_source_still_reads_its_own_fixture(http_server, http_client, allow_private_networks):
    for source, fixture in [
        ("jobicy", "jobicy.json"),
        ("himalayas", "himalayas.json"),
        ("remotive", "remotive.json"),
    ]:
        assert _fetch(
            source, (FIXTURES / fixture).read_bytes(), http_server, http_client, allow_private_networks
        ).items


@pytest.mark.parametrize(("source", "fixture"), [("jobicy", "remotive.json"), ("himalayas", "remotive.json")])
def test_platforms_add_check_fails_on_another_apis_payload(
    source, fixture, tmp_path: Path, http_server
) -> None:
    http_server.route("/api", body=(FIXTURES / fixture).read_bytes())
    cli = Cli(tmp_path, {"COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"})
    result = cli(
        "platforms", "add", "--user", "1", "--name", "x", "--source", source, "--check",
        "--config", json.dumps({"url": http_server.url("/api")}), expect=1,
    )  # fmt: skip
    [line] = result.stderr.splitlines()
    assert "check failed" in line and f"{source} payload could not be parsed: expected " in line
    assert "found 3 records" in line and "check passed" not in result.stderr
