"""Every way a platform can fail, through the collector handler, against DESIGN section 5.

Each case serves one fault from the local HTTP server (or breaks the platform's config), sends
one collect message to the moto queue and lets the poller hand it to the handler once. Then the
case's expectations are checked where an operator would see them: the ``collection_runs`` row,
the platform row (failures counted, last error, when it is tried next) and the queue (the
message deleted, or left for SQS to deliver again).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from charlee_collector.core.clock import utcnow
from tests.faults.conftest import FaultEnv
from tests.faults.harness import body, jobs_payload, json_api_config, platform_row, poller, runs_of, send
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

INTERVAL = timedelta(minutes=15)  # add_platform's collection_interval_minutes
SLACK = timedelta(seconds=5)


@dataclass(frozen=True)
class Setup:
    """What a case gives the platform: its source and config, and the Retry-After it served."""

    config: dict[str, object]
    source: str = "json_api"
    retry_at: datetime | None = None


@dataclass(frozen=True)
class Fault:
    """One row of the table: how to cause the fault and what DESIGN section 5 says happens."""

    name: str
    setup: Callable[[LocalHTTPServer], Setup]
    outcome: str  # the collection_runs outcome
    retried: bool  # True: in batchItemFailures, SQS delivers it again; False: deleted
    http_status: int | None
    error: str  # a regex the run's error (and the platform's last_error) must match
    counted: bool  # the failure counts toward consecutive_failures (and backoff)
    env: dict[str, str] = field(default_factory=dict)
    requests: int | None = 1  # requests the server should see (None: do not check)


def acknowledged(
    name: str, setup: Callable[[LocalHTTPServer], Setup], *, status: int | None, error: str, **options: Any
) -> Fault:
    """Retrying cannot help: message deleted, run ``failed``, platform failure counted."""
    return Fault(name, setup, "failed", False, status, error, True, **options)


def retried(
    name: str, setup: Callable[[LocalHTTPServer], Setup], *, status: int | None, error: str, **options: Any
) -> Fault:
    """Worth retrying: in batchItemFailures, run ``failed``, platform failure counted."""
    return Fault(name, setup, "failed", True, status, error, True, **options)


def rate_limited(name: str, setup: Callable[[LocalHTTPServer], Setup], *, status: int) -> Fault:
    """Message deleted, run ``rate_limited``, no failure counted, next collection after Retry-After."""
    return Fault(name, setup, "rate_limited", False, status, r"slow down", False)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _status(status: int, **options: Any) -> Callable[[LocalHTTPServer], Setup]:
    def setup(server: LocalHTTPServer) -> Setup:
        server.route("/jobs", status=status, body=b"upstream says no", **options)
        return Setup(json_api_config(server.url("/jobs")))

    return setup


def _body(payload: bytes, **options: Any) -> Callable[[LocalHTTPServer], Setup]:
    def setup(server: LocalHTTPServer) -> Setup:
        server.route("/jobs", body=payload, content_type="application/json", **options)
        return Setup(json_api_config(server.url("/jobs")))

    return setup


def _retry_after_seconds(server: LocalHTTPServer) -> Setup:
    server.route("/jobs", status=429, headers={"Retry-After": "7200"})
    return Setup(json_api_config(server.url("/jobs")), retry_at=utcnow() + timedelta(seconds=7200))


def _retry_after(value: str | None, expected: timedelta) -> Callable[[LocalHTTPServer], Setup]:
    def setup(server: LocalHTTPServer) -> Setup:
        server.route("/jobs", status=429, headers={"Retry-After": value} if value else {})
        return Setup(json_api_config(server.url("/jobs")), retry_at=utcnow() + expected)

    return setup


def _retry_after_date(status: int) -> Callable[[LocalHTTPServer], Setup]:
    def setup(server: LocalHTTPServer) -> Setup:
        when = (utcnow() + timedelta(hours=3)).replace(microsecond=0)
        server.route("/jobs", status=status, headers={"Retry-After": format_datetime(when, usegmt=True)})
        return Setup(json_api_config(server.url("/jobs")), retry_at=when)

    return setup


def _slow(server: LocalHTTPServer) -> Setup:
    server.route("/jobs", body=jobs_payload(1), delay=1.5)
    return Setup(json_api_config(server.url("/jobs")))


def _refused(server: LocalHTTPServer) -> Setup:
    return Setup(json_api_config(f"http://127.0.0.1:{_closed_port()}/jobs"))


def _config(source: str, config: dict[str, object]) -> Callable[[LocalHTTPServer], Setup]:
    def setup(server: LocalHTTPServer) -> Setup:
        server.route("/jobs", body=jobs_payload(2))
        return Setup({k: (server.url("/jobs") if v == "URL" else v) for k, v in config.items()}, source)

    return setup


def _redirect_loop(server: LocalHTTPServer) -> Setup:
    server.redirect("/jobs", "/elsewhere")
    server.redirect("/elsewhere", "/jobs")
    return Setup(json_api_config(server.url("/jobs")))


def _redirect_to_metadata(server: LocalHTTPServer) -> Setup:
    server.redirect("/jobs", "http://169.254.169.254/latest/meta-data/iam/security-credentials/")
    return Setup(json_api_config(server.url("/jobs")))


FAULTS = [
    acknowledged("404", _status(404), status=404, error=r"404 Not Found.*does not exist"),
    acknowledged("410", _status(410), status=410, error=r"410 Gone"),
    acknowledged("401", _status(401), status=401, error=r"401 .*credentials"),
    retried("500", _status(500), status=500, error=r"500 Internal Server Error.*retried"),
    retried("502", _status(502), status=502, error=r"502 Bad Gateway"),
    retried("503 without Retry-After", _status(503), status=503, error=r"503 Service Unavailable"),
    rate_limited("429 Retry-After seconds", _retry_after_seconds, status=429),
    rate_limited("429 Retry-After HTTP-date", _retry_after_date(429), status=429),
    rate_limited("503 Retry-After HTTP-date", _retry_after_date(503), status=503),
    # No Retry-After, or one that cannot be read: fetch.DEFAULT_RATE_LIMIT_DELAY (30 minutes).
    rate_limited("429 without Retry-After", _retry_after(None, timedelta(minutes=30)), status=429),
    rate_limited("429 Retry-After absurd", _retry_after("9" * 30, timedelta(minutes=30)), status=429),
    # Capped at fetch.MAX_RETRY_AFTER.
    rate_limited(
        "429 Retry-After of 30 days", _retry_after(str(30 * 24 * 3600), timedelta(days=7)), status=429
    ),
    retried(
        "read timeout",
        _slow,
        status=None,
        error=r"did not answer within 0.3s",
        env={"HTTP_READ_TIMEOUT": "0.3"},
    ),
    retried("connection refused", _refused, status=None, error=r"could not connect to 127.0.0.1", requests=0),
    # A body that cannot be parsed leaves the run's http_status empty (the parser raises, not fetch).
    acknowledged("garbage", _body(b"garbage, not json"), status=None, error=r"invalid JSON"),
    acknowledged(
        "HTML instead of JSON",
        _body(b"<!doctype html><html><body>Please log in</body></html>"),
        status=None,
        error=r"got HTML or XML where JSON was expected",
    ),
    acknowledged("truncated JSON", _body(jobs_payload(50)[:-40]), status=None, error=r"invalid JSON"),
    acknowledged("empty body", _body(b""), status=None, error=r"body is empty"),
    acknowledged("not UTF-8", _body(b'{"jobs": ["\xff\xfe"]}'), status=None, error=r"not valid UTF-8"),
    acknowledged(
        "JSON of the wrong shape",
        _body(b'{"jobs": {"not": "a list"}}'),
        status=None,
        error=r"selected dict, not a list",
    ),
    acknowledged(
        "oversized body (Content-Length)",
        _body(jobs_payload(200)),
        status=200,
        error=r"larger than the 2000-byte cap",
        env={"MAX_RESPONSE_BYTES": "2000"},
    ),
    acknowledged(
        "oversized body (chunked)",
        _body(jobs_payload(200), chunked=True),
        status=200,
        error=r"larger than the 2000-byte cap",
        env={"MAX_RESPONSE_BYTES": "2000"},
    ),
    acknowledged(
        "oversized body (gzip bomb)",
        _body(b'{"jobs": [' + b" " * 3_000_000 + b"]}", gzip=True),
        status=200,
        error=r"larger than the 2000-byte cap",
        env={"MAX_RESPONSE_BYTES": "2000"},
    ),
    acknowledged(
        "invalid config: items missing",
        _config("json_api", {"url": "URL"}),
        status=None,
        error=r"invalid config for source 'json_api'.*items",
        requests=0,
    ),
    acknowledged(
        "invalid config: url not a URL",
        _config("json_api", {"url": "not a url", "items": "jobs"}),
        status=None,
        error=r"invalid config for source 'json_api'.*url",
        requests=0,
    ),
    acknowledged(
        "invalid config: bad JMESPath",
        _config("json_api", {"url": "URL", "items": "jobs[?"}),
        status=None,
        error=r"invalid JMESPath",
        requests=0,
    ),
    acknowledged(
        "unknown source",
        _config("myspace", {"url": "URL"}),
        status=None,
        error=r"unknown source 'myspace'",
        requests=0,
    ),
    acknowledged(
        "corrupt gzip body",  # a whole gzip header, then bytes that are no deflate block
        _body(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage", headers={"Content-Encoding": "gzip"}),
        status=None,
        error=r"sent a body that could not be decompressed: .*invalid block type",
    ),
    acknowledged(
        "truncated gzip body",  # zlib ends such a stream without an error and without output
        _body(b"\x1f\x8b\x08\x00garbage", headers={"Content-Encoding": "gzip"}),
        status=200,
        error=r"sent 11 bytes of gzip that decompress to nothing \(a truncated or corrupt body\)",
    ),
    retried(
        "304 to a request that was not conditional",  # nothing stored to be "not modified" against
        _status(304),
        status=304,
        error=r"304 Not Modified .* to a request that was not conditional: nothing to collect",
    ),
    # Six requests: the first and the five redirects followed.
    acknowledged("redirect loop", _redirect_loop, status=None, error=r"more than 5 redirects", requests=6),
    acknowledged(
        "redirect to the metadata address",
        _redirect_to_metadata,
        status=None,
        error=r"169\.254\.169\.254.*metadata",
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_platform_fault_through_the_collector_handler(
    fault: Fault, fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    fault_env.set(**fault.env)
    setup = fault.setup(http_server)
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source=setup.source, config=setup.config)
    [message_id] = send(fault_env.queues, body(platform_id))
    before = utcnow()

    running = poller(fault_env.queues)
    assert running.poll_once() == 1
    after = datetime.now(UTC)

    # Acknowledged (deleted) or reported failed for SQS to deliver again, as the table says.
    assert (running.stats.failed, running.stats.succeeded) == ((1, 0) if fault.retried else (0, 1))
    assert fault_env.queues.depth() == (1 if fault.retried else 0)
    assert running.stats.handler_errors == []

    [run] = runs_of(fault_env.engine, platform_id)
    assert run.outcome == fault.outcome
    assert run.message_id == message_id
    assert run.http_status == fault.http_status
    assert re.search(fault.error, run.error or ""), run.error
    assert (run.fetched, run.inserted, run.updated) == (0, 0, 0)

    platform = platform_row(fault_env.engine, platform_id)
    assert platform.paused_at is None
    assert platform.last_collection_at is None
    if fault.counted:
        assert platform.consecutive_failures == 1
        assert re.search(fault.error, platform.last_error or ""), platform.last_error
        assert before <= platform.last_error_at <= after
        # The first failure backs off one interval.
        assert before + INTERVAL - SLACK <= platform.next_collection_at <= after + INTERVAL + SLACK
    else:
        assert platform.consecutive_failures == 0
        assert platform.last_error is None
    if setup.retry_at is not None:
        # Not before Retry-After (seconds or HTTP-date), which is later than one interval here.
        assert setup.retry_at - SLACK <= platform.next_collection_at <= setup.retry_at + SLACK
    if fault.requests is not None:
        assert len(http_server.requests) == fault.requests


def test_unknown_platform_is_acknowledged_without_a_run(fault_env: FaultEnv) -> None:
    send(fault_env.queues, body(987_654))
    running = poller(fault_env.queues)
    running.poll_once()
    assert (running.stats.failed, running.stats.succeeded) == (0, 1)
    assert fault_env.queues.depth() == 0
    assert runs_of(fault_env.engine, 987_654) == []
