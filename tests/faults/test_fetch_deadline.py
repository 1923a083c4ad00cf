"""Slow platforms against the one deadline of a collection (COLLECTION_DEADLINE_SECONDS).

Every server here keeps each single read quick (a byte, a piece, every 0.1-0.2 s, far under
the read timeout) while the whole answer is slow or never ends: headers dripped forever, a
body dripped forever, a chain of slow redirects, paginated pages that are each fine but too
many together, a TLS handshake nobody answers, a resolver that never answers. The deadline,
not the per-operation timeouts, ends each of them: a ``TransientSourceError`` saying so (run
failed, message retried by SQS), and through the collector handler the dripping platform's
batch mates are collected and acknowledged as if nothing happened.

Timings are bounded generously: waits on threads have a 60 s ceiling where the expected
value is the 1-2 s deadline; without the deadline, the dripping cases would never end.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import collector_handler
import pytest

from charlee_collector.core.errors import TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching import client as fetch
from charlee_collector.fetching.client import Deadline, Fetcher, build_client, get
from charlee_collector.sources import fetch_platform
from charlee_collector_tools.local.handlers import LocalLambdaContext
from charlee_collector_tools.local.poller import sqs_event
from tests.faults.conftest import FaultEnv
from tests.faults.harness import ARN, body, jobs_payload, json_api_config, message, platform_row, runs_of
from tests.support.drip_server import (
    ConnectRecorder,
    DripServer,
    drip_server,
    dripping_body,
    dripping_headers,
    in_pieces,
    response,
    silent_listener,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

T = TypeVar("T")
DEADLINE = 2.0
CEILING = 60.0  # seconds a bounded wait allows; the expected time is DEADLINE
DEADLINE_ERROR = r"did not finish within 2 s \(COLLECTION_DEADLINE_SECONDS\)"


@pytest.fixture
def dripping() -> Iterator[DripServer]:
    with drip_server() as server:
        yield server


@pytest.fixture
def quick(allow_private_networks: Settings) -> Settings:
    """Settings with a 2 s deadline and per-operation timeouts far above it."""
    return replace(
        allow_private_networks,
        collection_deadline_seconds=DEADLINE,
        http_connect_timeout=20.0,
        http_read_timeout=20.0,
    )


def bounded(call: Callable[[], T]) -> tuple[T | BaseException, float]:
    """``call``'s result (or what it raised) and its duration, failing if it outlives CEILING."""
    outcome: list[T | BaseException] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(CEILING)
    assert not worker.is_alive(), f"still running after {CEILING} s: no deadline held it"
    return outcome[0], time.monotonic() - started


def deadline_error(call: Callable[[], Any]) -> TransientSourceError:
    result, _elapsed = bounded(call)
    assert isinstance(result, TransientSourceError), result
    return result


# --- through the collector handler -------------------------------------------------------------


@pytest.mark.parametrize("concurrency", ["1", "4"])
def test_a_dripping_platform_costs_one_failed_run_and_never_its_batch_mates(
    concurrency: str, fault_env: FaultEnv, http_server: LocalHTTPServer, dripping: DripServer
) -> None:
    """The issue's case: a status line and headers one byte every 0.2 s, forever, first in a
    batch with two healthy platforms, under a Lambda with 120 s and a 30 s margin."""
    fault_env.set(
        COLLECTOR_CONCURRENCY=concurrency,
        TIME_MARGIN_MS="30000",
        COLLECTION_DEADLINE_SECONDS=str(DEADLINE),
        HTTP_READ_TIMEOUT="20",
    )
    dripping.route("/jobs", dripping_headers(), interval=0.2)
    http_server.route("/a", body=jobs_payload(2, "a"))
    http_server.route("/b", body=jobs_payload(3, "b"))
    with fault_env.engine.begin() as conn:
        slow = add_platform(conn, source="json_api", config=json_api_config(dripping.url("/jobs")))
        healthy = [
            add_platform(conn, source="json_api", config=json_api_config(http_server.url(path)))
            for path in ("/a", "/b")
        ]
    batch = [message(body(platform_id)) for platform_id in (slow, *healthy)]
    context = LocalLambdaContext("CollectorFunction", timeout_seconds=120)

    answer, _elapsed = bounded(lambda: collector_handler.handler(sqs_event(batch, ARN), context))

    assert isinstance(answer, dict), answer
    # Only the dripping platform's message comes back; its batch mates are acknowledged.
    assert [item["itemIdentifier"] for item in answer["batchItemFailures"]] == [batch[0]["MessageId"]]
    # Returned with far more than the margin left: the Lambda deadline was never near.
    assert context.get_remaining_time_in_millis() > 30_000
    [run] = runs_of(fault_env.engine, slow)
    assert run.outcome == "failed"
    assert re.search(DEADLINE_ERROR, run.error or ""), run.error
    platform = platform_row(fault_env.engine, slow)
    assert platform.consecutive_failures == 1 and "COLLECTION_DEADLINE_SECONDS" in platform.last_error
    for platform_id, count in zip(healthy, (2, 3), strict=True):
        assert [(r.outcome, r.inserted) for r in runs_of(fault_env.engine, platform_id)] == [
            ("success", count)
        ]
    assert dripping.requests == ["/jobs"]  # asked once: a deadline is not a connect error to retry


def test_a_record_is_not_started_unless_a_whole_collection_fits_before_the_margin(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    """35 s left, a 30 s margin and a 10 s collection deadline: starting would let the fetch run
    past the margin, so the record is failed untouched (no request, no run)."""
    fault_env.set(TIME_MARGIN_MS="30000", COLLECTION_DEADLINE_SECONDS="10")
    http_server.route("/a", body=jobs_payload(1))
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/a")))
    before = platform_row(fault_env.engine, platform_id)
    context = LocalLambdaContext("CollectorFunction", timeout_seconds=35)
    record = message(body(platform_id))

    answer = collector_handler.handler(sqs_event([record], ARN), context)

    assert answer["batchItemFailures"] == [{"itemIdentifier": record["MessageId"]}]
    assert runs_of(fault_env.engine, platform_id) == []
    assert http_server.requests == []
    assert platform_row(fault_env.engine, platform_id) == before


# --- fetch: every phase under the deadline -----------------------------------------------------


@pytest.mark.parametrize("pieces", [dripping_headers(), dripping_body()], ids=["headers", "body"])
def test_a_dripping_answer_is_cut_off_at_the_deadline(
    pieces: Any, dripping: DripServer, quick: Settings
) -> None:
    dripping.route("/feed", pieces, interval=0.2)
    with build_client(quick) as client:
        error = deadline_error(lambda: get(client, dripping.url("/feed"), settings=quick))
    assert "127.0.0.1" in str(error)
    assert re.search(DEADLINE_ERROR, str(error)), error


def test_a_chain_of_slow_redirects_is_bounded_as_a_whole(dripping: DripServer, quick: Settings) -> None:
    """Six hops (five redirects, within MAX_REDIRECTS), each ~0.6 s and each read ~0.1 s: fine
    one by one, over the 2 s deadline together."""
    final = response(200, b'{"jobs": []}', {"Content-Type": "application/json"})
    dripping.redirect_chain("/hop", hops=6, final=final, interval=0.1)
    with build_client(quick) as client:
        error = deadline_error(lambda: get(client, dripping.url("/hop/0"), settings=quick))
    assert re.search(DEADLINE_ERROR, str(error)), error
    assert 2 <= len(dripping.requests) < 6  # cut off part-way through the chain


def test_the_same_chain_completes_when_the_deadline_allows_it(dripping: DripServer, quick: Settings) -> None:
    final = response(200, b'{"jobs": []}', {"Content-Type": "application/json"})
    dripping.redirect_chain("/hop", hops=6, final=final, interval=0.01)
    roomy = replace(quick, collection_deadline_seconds=CEILING)
    with build_client(roomy) as client:
        result, _elapsed = bounded(lambda: get(client, dripping.url("/hop/0"), settings=roomy))
    assert isinstance(result, fetch.HttpResponse), result
    assert result.url.endswith("/hop/5") and len(dripping.requests) == 6


def test_pages_of_one_collection_share_one_deadline(dripping: DripServer, quick: Settings) -> None:
    """arbeitnow follows links.next: five pages of ~0.6 s each, each well within the read
    timeout; together past the 2 s deadline of the collection."""

    def page(number: int) -> bytes:
        following = {"next": dripping.url(f"/page/{number + 1}")} if number < 5 else {}
        data = {"data": [{"slug": f"job-{number}", "title": f"Job {number}", "url": "https://x.example/j"}]}
        return json.dumps({**data, "links": following}).encode()

    for number in range(1, 6):
        answer = response(200, page(number), {"Content-Type": "application/json"})
        dripping.route(f"/page/{number}", in_pieces(answer, len(answer) // 6 + 1), interval=0.1)
    config = {"url": dripping.url("/page/1"), "max_pages": 5}
    with build_client(quick) as client:
        error = deadline_error(lambda: fetch_platform("arbeitnow", config, Fetcher(client, quick)))
    assert re.search(DEADLINE_ERROR, str(error)), error
    # Several pages were asked for, each under its own read timeout; the deadline ended the rest.
    assert dripping.requests[:2] == ["/page/1", "/page/2"] and len(dripping.requests) < 5


def test_a_tls_handshake_nobody_answers_is_cut_off_at_the_deadline(quick: Settings) -> None:
    with silent_listener() as port, build_client(quick) as client:
        error = deadline_error(lambda: get(client, f"https://127.0.0.1:{port}/feed", settings=quick))
    assert re.search(DEADLINE_ERROR, str(error)), error


def test_a_request_nobody_answers_is_cut_off_at_the_deadline(quick: Settings) -> None:
    with silent_listener() as port, build_client(quick) as client:
        error = deadline_error(lambda: get(client, f"http://127.0.0.1:{port}/feed", settings=quick))
    assert re.search(DEADLINE_ERROR, str(error)), error


@pytest.fixture
def dead_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """A resolver that never answers for *.hang.invalid (released after the test)."""
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith("hang.invalid"):
            release.wait(CEILING)
            raise socket.gaierror(socket.EAI_AGAIN, "resolver gave up")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release
    release.set()


def test_a_resolver_that_never_answers_is_cut_off_at_the_deadline(
    dead_resolver: threading.Event, quick: Settings
) -> None:
    with build_client(quick) as client:
        error = deadline_error(lambda: get(client, "http://feed.hang.invalid/jobs", settings=quick))
    assert re.search(DEADLINE_ERROR, str(error)), error


def test_a_resolver_that_never_answers_is_cut_off_at_the_connect_timeout(
    dead_resolver: threading.Event, quick: Settings
) -> None:
    patient = replace(quick, http_connect_timeout=0.5, collection_deadline_seconds=CEILING)
    with build_client(patient) as client:
        error = deadline_error(lambda: get(client, "http://feed.hang.invalid/jobs", settings=patient))
    assert "could not resolve host 'feed.hang.invalid'" in str(error) and "0.5 s" in str(error)


def test_the_retry_pause_after_a_connect_error_never_passes_the_deadline(
    monkeypatch: pytest.MonkeyPatch, quick: Settings
) -> None:
    """A refused connect is retried once after a pause, unless the pause would end past the
    deadline: then it is not retried at all."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/feed"
    monkeypatch.setattr(fetch, "RETRY_PAUSE_SECONDS", CEILING)  # a pause no deadline here allows
    with build_client(quick) as client, ConnectRecorder().recording() as connects:
        error = deadline_error(lambda: get(client, url, settings=quick))
    assert "after 1 attempt" in str(error)
    assert len(connects.addresses) == 1

    monkeypatch.setattr(fetch, "RETRY_PAUSE_SECONDS", 0.01)
    with build_client(quick) as client, ConnectRecorder().recording() as connects:
        error = deadline_error(lambda: get(client, url, settings=quick))
    assert "after 2 attempts" in str(error)
    assert len(connects.addresses) == 2


def test_the_fetchers_deadline_bounds_every_request_whatever_the_settings_allow(
    http_server: LocalHTTPServer, quick: Settings
) -> None:
    """A record's deadline, handed to its fetcher, is the one every request of the collection
    keeps to: a later request gets what is left of it, never a new COLLECTION_DEADLINE_SECONDS."""
    roomy = replace(quick, collection_deadline_seconds=CEILING)
    http_server.route("/fast", body=b"{}")
    http_server.route("/slow", body=b"{}", delay=1.0)
    with build_client(roomy) as client:
        fetcher = Fetcher(client, roomy, deadline=Deadline(0.5))
        assert fetcher.get(http_server.url("/fast")).body == b"{}"
        error = deadline_error(lambda: fetcher.get(http_server.url("/slow")))
    assert re.search(DEADLINE_ERROR.replace("2", r"0\.5"), str(error)) or "0.5 s" in str(error), error


def test_a_pooled_connection_keeps_to_the_deadline_of_whoever_uses_it(
    http_server: LocalHTTPServer, quick: Settings
) -> None:
    """Keep-alive hands one connection from collection to collection (thread to thread): the
    deadline is looked up on every read, not fixed when the connection was made. The first
    collection's 0.5 s deadline has long passed when the second one's slow answer arrives."""
    roomy = replace(quick, collection_deadline_seconds=CEILING)
    http_server.route("/fast", body=b"{}")
    http_server.route("/slow", body=b"{}", delay=1.0)
    with build_client(roomy) as client, ConnectRecorder().recording() as connects:
        assert Fetcher(client, roomy, deadline=Deadline(0.5)).get(http_server.url("/fast")).body == b"{}"
        result, _elapsed = bounded(lambda: get(client, http_server.url("/slow"), settings=roomy))
    assert isinstance(result, fetch.HttpResponse), result
    assert len(connects.addresses) == 1  # the second request really used the pooled connection


def test_a_deadline_setting_must_be_positive() -> None:
    from charlee_collector.core.errors import ConfigurationError

    assert Settings.from_env({"COLLECTION_DEADLINE_SECONDS": "12.5"}).collection_deadline_seconds == 12.5
    assert Settings.from_env({}).collection_deadline_seconds == 40.0
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(ConfigurationError, match="COLLECTION_DEADLINE_SECONDS"):
            Settings.from_env({"COLLECTION_DEADLINE_SECONDS": bad})
