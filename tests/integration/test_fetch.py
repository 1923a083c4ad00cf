"""fetch.get and fetch_platform against the real local HTTP server: politeness, limits, failures.

Every bad input must come back as the documented ``SourceError`` subclass with a message a
person can act on, never as an unexpected exception.
"""

from __future__ import annotations

import gzip
import ipaddress
import logging
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from charlee_collector.core.errors import (
    InvalidPlatformConfig,
    PermanentSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from charlee_collector.core.settings import Settings
from charlee_collector.fetching import client as fetch
from charlee_collector.fetching.addresses import is_forbidden_address
from charlee_collector.fetching.client import USER_AGENT, Fetcher, build_client, get
from charlee_collector.sources import fetch_platform

JOBS = b'{"jobs": [{"id": 1, "title": "Django gig", "url": "https://remotive.com/remote-jobs/1"}]}'
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rss version="2.0"><channel><title>&lol3;</title><item><title>&lol3;</title></item></channel></rss>"""


@pytest.fixture(autouse=True)
def _no_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "RETRY_PAUSE_SECONDS", 0.0)


def _get(client: httpx.Client, settings: Settings, url: str, **kwargs: object) -> fetch.HttpResponse:
    return get(client, url, settings=settings, **kwargs)  # type: ignore[arg-type]


# --- politeness --------------------------------------------------------------------------------


def test_conditional_get_returns_not_modified_with_stored_validators(
    http_server, http_client, allow_private_networks
):
    modified = "Wed, 07 Jan 2026 10:00:00 GMT"
    http_server.route("/jobs", body=JOBS, etag='"v1"', last_modified=modified)
    first = _get(http_client, allow_private_networks, http_server.url("/jobs"))
    assert (first.status, first.etag, first.last_modified, first.not_modified) == (
        200,
        '"v1"',
        modified,
        False,
    )

    second = _get(
        http_client,
        allow_private_networks,
        http_server.url("/jobs"),
        etag=first.etag,
        last_modified=first.last_modified,
    )
    assert second.not_modified and second.status == 304 and second.body == b""
    sent = http_server.requests_to("/jobs")[-1].headers
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == modified


def test_fetch_platform_reports_not_modified(http_server, http_client, allow_private_networks):
    http_server.route("/remotive", body=JOBS, etag='"abc"')
    config = {"url": http_server.url("/remotive")}
    first = fetch_platform("remotive", config, Fetcher(http_client, allow_private_networks))
    assert first.outcome == "ok" and len(first.items) == 1 and first.etag == '"abc"'
    again = fetch_platform("remotive", config, Fetcher(http_client, allow_private_networks), etag=first.etag)
    assert again.outcome == "not_modified" and again.items == [] and again.http_status == 304


def test_requests_carry_user_agent_and_gzip_is_decoded(http_server, http_client, allow_private_networks):
    http_server.route("/gz", body=JOBS, gzip=True)
    response = _get(http_client, allow_private_networks, http_server.url("/gz"))
    assert response.body == JOBS
    assert response.headers["content-encoding"] == "gzip"
    sent = http_server.requests_to("/gz")[0].headers
    assert sent["User-Agent"] == USER_AGENT and "gzip" in sent["Accept-Encoding"]


def test_redirects_are_followed_and_checked(http_server, http_client, allow_private_networks):
    http_server.redirect("/old", "/new", status=301)
    http_server.route("/new", body=b"{}")
    response = _get(http_client, allow_private_networks, http_server.url("/old"))
    assert response.body == b"{}" and response.url == http_server.url("/new")


def test_cross_origin_redirect_drops_credentials(http_server, http_client, allow_private_networks):
    other_origin = f"http://localhost:{http_server.port}/landing"
    http_server.redirect("/start", other_origin)
    http_server.route("/landing", body=b"{}")
    _get(
        http_client,
        allow_private_networks,
        http_server.url("/start"),
        headers={"Authorization": "Bearer s3cr3t"},
    )
    assert http_server.requests_to("/start")[0].headers["Authorization"] == "Bearer s3cr3t"
    assert "Authorization" not in http_server.requests_to("/landing")[0].headers


# --- destinations ------------------------------------------------------------------------------


def test_redirect_loop_is_permanent(http_server, http_client, allow_private_networks):
    http_server.redirect("/a", "/b")
    http_server.redirect("/b", "/a")
    with pytest.raises(PermanentSourceError, match="more than 5 redirects") as caught:
        _get(http_client, allow_private_networks, http_server.url("/a"))
    assert "final address" in str(caught.value)
    assert len(http_server.requests) == 6


def test_redirect_to_metadata_is_refused_even_when_private_networks_are_allowed(
    http_server, http_client, allow_private_networks
):
    http_server.redirect("/creds", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    with pytest.raises(PermanentSourceError, match="metadata") as caught:
        _get(http_client, allow_private_networks, http_server.url("/creds"))
    assert "169.254.169.254" in str(caught.value)


def test_private_address_is_refused_by_default(http_server):
    strict = Settings(allow_private_networks=False)
    http_server.route("/jobs", body=JOBS)
    with build_client(strict) as client, pytest.raises(PermanentSourceError, match="not a public address"):
        get(client, http_server.url("/jobs"), settings=strict)
    assert http_server.requests == []


def test_connect_time_guard_refuses_even_when_the_precheck_is_skipped(http_server):
    # The client's network backend vets the address it connects to, so a DNS answer that
    # changes after the pre-check (rebinding) still cannot reach a private address.
    http_server.route("/jobs", body=JOBS)
    with build_client(Settings(allow_private_networks=False)) as client, pytest.raises(PermanentSourceError):
        client.get(http_server.url("/jobs"))
    assert http_server.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/feed.xml", "gopher://example.com/"])
def test_only_http_and_https(url, http_client, allow_private_networks):
    with pytest.raises(PermanentSourceError, match="only http and https"):
        _get(http_client, allow_private_networks, url)


@pytest.mark.parametrize(
    ("address", "allow_private", "forbidden"),
    [
        ("8.8.8.8", False, False),
        ("2606:4700:4700::1111", False, False),
        ("10.1.2.3", False, True),
        ("192.168.0.10", False, True),
        ("127.0.0.1", False, True),
        ("::1", False, True),
        ("169.254.10.10", False, True),
        ("224.0.0.1", False, True),
        ("0.0.0.0", False, True),
        ("100.64.0.1", False, True),
        ("240.0.0.1", False, True),
        ("127.0.0.1", True, False),
        ("10.1.2.3", True, False),
        ("169.254.169.254", True, True),
        ("fd00:ec2::254", True, True),
        ("::ffff:169.254.169.254", True, True),
        ("169.254.170.2", True, True),
    ],
)
def test_forbidden_addresses(address, allow_private, forbidden):
    assert is_forbidden_address(ipaddress.ip_address(address), allow_private=allow_private) is forbidden


# --- HTTP failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "advice"),
    [
        (404, PermanentSourceError, "check the url"),
        (410, PermanentSourceError, "check the url"),
        (401, PermanentSourceError, "credentials"),
        (403, PermanentSourceError, "credentials"),
        (400, PermanentSourceError, "rejected"),
        (500, TransientSourceError, "will be retried"),
        (502, TransientSourceError, "will be retried"),
        (503, TransientSourceError, "will be retried"),
    ],
)
def test_http_errors_map_to_the_error_tree(
    status, error, advice, http_server, http_client, allow_private_networks
):
    http_server.route("/x", status=status, body=b"<html>oops</html>")
    with pytest.raises(error) as caught:
        _get(http_client, allow_private_networks, http_server.url("/x"))
    assert type(caught.value) is error
    assert caught.value.http_status == status
    message = str(caught.value)
    assert f"127.0.0.1 answered {status}" in message and advice in message


def test_429_with_retry_after_seconds(http_server, http_client, allow_private_networks):
    http_server.route("/x", status=429, headers={"Retry-After": "120"})
    before = datetime.now(UTC)
    with pytest.raises(RateLimited) as caught:
        _get(http_client, allow_private_networks, http_server.url("/x"))
    assert caught.value.http_status == 429
    assert (
        before + timedelta(seconds=115) <= caught.value.retry_at <= datetime.now(UTC) + timedelta(seconds=125)
    )
    assert "slow down" in str(caught.value)


def test_429_with_retry_after_http_date(http_server, http_client, allow_private_networks):
    when = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    http_server.route("/x", status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(RateLimited) as caught:
        _get(http_client, allow_private_networks, http_server.url("/x"))
    assert caught.value.retry_at == when


def test_503_with_retry_after_is_rate_limited_and_429_without_gets_a_default(
    http_server, http_client, allow_private_networks
):
    http_server.route("/busy", status=503, headers={"Retry-After": "60"})
    with pytest.raises(RateLimited) as caught:
        _get(http_client, allow_private_networks, http_server.url("/busy"))
    assert caught.value.http_status == 503
    http_server.route("/plain", status=429)
    with pytest.raises(RateLimited) as caught:
        _get(http_client, allow_private_networks, http_server.url("/plain"))
    assert caught.value.retry_at > datetime.now(UTC) + timedelta(minutes=25)


def test_rate_limited_is_raised_by_fetch_platform(http_server, http_client, allow_private_networks):
    http_server.route("/remotive", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited):
        fetch_platform(
            "remotive", {"url": http_server.url("/remotive")}, Fetcher(http_client, allow_private_networks)
        )


def test_read_timeout_is_transient(http_server, allow_private_networks):
    quick = replace(allow_private_networks, http_read_timeout=0.2)
    http_server.route("/slow", body=JOBS, delay=1.0)
    with (
        build_client(quick) as client,
        pytest.raises(TransientSourceError, match=r"did not answer within 0\.2s"),
    ):
        get(client, http_server.url("/slow"), settings=quick)


def test_connection_refused_is_retried_once_then_transient(http_client, allow_private_networks):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransientSourceError, match="after 2 attempts"):
        _get(http_client, allow_private_networks, f"http://127.0.0.1:{port}/feed")


def test_messages_never_show_userinfo_or_query(http_server, http_client, allow_private_networks):
    url = f"http://alice:hunter2@127.0.0.1:{http_server.port}/missing?api_key=TOPSECRET"
    with pytest.raises(PermanentSourceError) as caught:
        _get(http_client, allow_private_networks, url)
    message = str(caught.value)
    assert "/missing" in message
    assert "hunter2" not in message and "TOPSECRET" not in message and "alice" not in message


# --- size cap ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_the_cap_is_refused_while_streaming(chunked, http_server, allow_private_networks):
    capped = replace(allow_private_networks, max_response_bytes=4096)
    http_server.route("/big", body=b"x" * 20_000, chunked=chunked)
    with build_client(capped) as client, pytest.raises(PermanentSourceError, match="4096-byte cap"):
        get(client, http_server.url("/big"), settings=capped)


def test_gzip_bomb_is_stopped_by_the_decoded_size(http_server, allow_private_networks):
    capped = replace(allow_private_networks, max_response_bytes=64 * 1024)
    bomb = gzip.compress(b"0" * 5_000_000)
    assert len(bomb) < 64 * 1024
    http_server.route("/bomb", body=bomb, headers={"Content-Encoding": "gzip"})
    with build_client(capped) as client, pytest.raises(PermanentSourceError, match="cap"):
        get(client, http_server.url("/bomb"), settings=capped)


def test_corrupt_gzip_is_permanent(http_server, http_client, allow_private_networks):
    http_server.route("/corrupt", body=b"definitely not gzip", headers={"Content-Encoding": "gzip"})
    with pytest.raises(PermanentSourceError, match="decompressed"):
        _get(http_client, allow_private_networks, http_server.url("/corrupt"))


# --- bad payloads through fetch_platform --------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "body", "expected"),
    [
        ("remotive", b"", "body is empty"),
        ("remotive", b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML"),
        ("remotive", b'{"jobs": [{"id": 1, "title": "trunc', "invalid JSON"),
        ("remotive", b'[{"id": 1}]', "expected a JSON object"),
        ("remotive", b'{"jobs": {"id": 1}}', '"jobs" list'),
        ("remotive", b'{"jobs": [{"title": "caf\xe9"}]}', "not valid UTF-8"),
        ("remoteok", b'{"legal": "not an array"}', "JSON array"),
        ("rss", b"", "body is empty"),
        ("rss", b"<html><body>Sign in</body></html>", "not an RSS, Atom or JSON feed"),
        ("rss", BILLION_LAUGHS, "declares XML entities"),
        (
            "rss",
            BILLION_LAUGHS.replace(b'"1.0"', b'"1.0" encoding="utf-16"', 1).decode().encode("utf-16"),
            "entities",
        ),
        ("hn_freelancer", b'{"hits": "nope"}', "hits"),
    ],
)
def test_bad_payloads_are_permanent_with_a_reason(
    source, body, expected, http_server, http_client, allow_private_networks
):
    http_server.route("/payload", body=body)
    http_server.route(
        "/search_by_date",
        body=b'{"hits": [{"title": "Ask HN: Freelancer? Seeking freelancer? (X)", "objectID": "7"}]}',
    )
    http_server.route("/search", body=body)
    config = (
        {"base_url": http_server.url("/")}
        if source == "hn_freelancer"
        else {"url": http_server.url("/payload")}
    )
    with pytest.raises(PermanentSourceError) as caught:
        fetch_platform(source, config, Fetcher(http_client, allow_private_networks))
    assert "could not be parsed" in str(caught.value) and expected in str(caught.value)


def test_invalid_config_is_refused_before_any_request(http_server, http_client, allow_private_networks):
    with pytest.raises(InvalidPlatformConfig, match="min_budget"):
        fetch_platform(
            "remotive",
            {"url": http_server.url("/x"), "min_budget": -5},
            Fetcher(http_client, allow_private_networks),
        )
    with pytest.raises(InvalidPlatformConfig, match="unknown source 'nope'"):
        fetch_platform("nope", {}, Fetcher(http_client, allow_private_networks))
    assert http_server.requests == []


def test_secret_values_never_reach_messages(http_server, http_client, allow_private_networks):
    http_server.route("/api", status=403)
    config = {"url": http_server.url("/api"), "items": "jobs", "headers": {"X-Api-Key": "{api_key}"}}
    with pytest.raises(SourceError) as caught:
        fetch_platform(
            "json_api", config, Fetcher(http_client, allow_private_networks), secrets={"api_key": "k-123456"}
        )
    assert http_server.requests_to("/api")[0].headers["X-Api-Key"] == "k-123456"
    assert "k-123456" not in str(caught.value)

    with pytest.raises(PermanentSourceError, match="'api_key'"):
        fetch_platform("json_api", config, Fetcher(http_client, allow_private_networks), secrets={})


def test_entity_text_inside_cdata_does_not_refuse_a_feed(http_server, http_client, allow_private_networks):
    feed = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>XML jobs</title><item>'
        b"<title>Fix our DTD</title><link>https://jobs.example/1</link>"
        b"<description><![CDATA[Remove <!ENTITY lol> declarations from our schemas.]]></description>"
        b"</item></channel></rss>"
    )
    http_server.route("/feed", body=feed)
    result = fetch_platform(
        "rss", {"url": http_server.url("/feed")}, Fetcher(http_client, allow_private_networks)
    )
    assert [item.title for item in result.items] == ["Fix our DTD"]


def test_request_urls_with_secrets_are_not_logged(http_server, allow_private_networks, caplog):
    http_server.route("/api", body=b"{}")
    with build_client(allow_private_networks) as client, caplog.at_level(logging.DEBUG):
        get(client, http_server.url("/api") + "?api_key=TOPSECRET", settings=allow_private_networks)
    assert "TOPSECRET" not in caplog.text


@pytest.mark.parametrize(
    ("errno", "advice", "not_said"),
    [
        # The resolver answered that the name does not exist: the url is what to check.
        (socket.EAI_NONAME, "check the host name in the platform's url", "offline"),
        # No answer at all (what an offline machine's resolver gives): the name may well be right.
        (
            socket.EAI_AGAIN,
            "no DNS answer came: check this machine's network and DNS (is it offline?)",
            "host name",
        ),
    ],
)
def test_a_failed_lookup_names_its_cause(
    monkeypatch: pytest.MonkeyPatch, http_client, errno: int, advice: str, not_said: str
) -> None:
    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        raise socket.gaierror(errno, "the resolver's own words")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)  # the machine's resolver, not ours
    with pytest.raises(TransientSourceError) as raised:
        _get(http_client, Settings(), "https://jobs.example.org/feed")
    message = str(raised.value)
    assert "could not resolve host 'jobs.example.org' ([Errno" in message and advice in message
    assert not_said not in message
