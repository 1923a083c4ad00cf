"""What the politeness layer shares between platforms, under faults: the shared response cache
(``fetch_cache``) and the host tables (``fetch_hosts``), as one platform's fault leaves them for
every other platform.

Each case collects real platforms (``collect_platform``, a real PostgreSQL) against the local
HTTP server, which serves the fault: a redirect to a path or a host built from the platform's
token, a body nobody can parse, a 429 from the host a redirect led to. Loopback hosts obey
limits only once an operator set some (``host_slots``), so the cases that look at holds and
spacing set overrides on ``127.0.0.1`` and ``localhost`` (two hosts on one server).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from charlee_collector.app.collect import CollectResult, collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.observability.metrics import metrics
from charlee_collector.store import host_slots as host_limits
from charlee_collector.store.tables import fetch_cache, fetch_hosts, platforms, runs
from tests.faults.harness import jobs_payload, json_api_config, platform_row, runs_of
from tests.support.db import wait_for
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

TOKEN = "Tok3n-Of-The-Platform"  # what the platform's credentials secret holds
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/stack/platform"


@pytest.fixture(autouse=True)
def _no_metrics_left_behind() -> Iterator[None]:
    yield
    metrics.clear_metrics()


def _collect(
    engine: Engine,
    client: httpx.Client,
    settings: Settings,
    platform_id: int,
    *,
    trigger: str | None = "schedule",
) -> CollectResult | Exception:
    """One collection; ``trigger=None``: the message a person types, ``{"platform_id": N}``
    (on demand, so forced, as the CLI's ``collect`` is). A failure SQS would retry comes back as
    its exception."""
    body: dict[str, Any] = {"platform_id": platform_id}
    if trigger is not None:
        body["trigger"] = trigger
    message = CollectMessage.model_validate(body)
    try:
        return collect_platform(
            engine, client, message, settings, secret_reader=lambda _arn: {"token": TOKEN}
        )
    except TransientSourceError as exc:
        return exc


def _json_api(engine: Engine, url: str, count: int = 1, **config: Any) -> list[int]:
    with engine.begin() as conn:
        return [
            add_platform(conn, user_id=n + 1, source="json_api", config=json_api_config(url, **config))
            for n in range(count)
        ]


def _manage(engine: Engine, *hosts: str, spacing_ms: int = 0) -> None:
    """Limits on these loopback hosts, so holds and spacing apply to them."""
    with engine.begin() as conn:
        for host in hosts:
            host_limits.set_override(conn, host, max_concurrent=4, min_spacing_ms=spacing_ms, now=utcnow())


def _hosts(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.host: row for row in conn.execute(select(fetch_hosts))}


# --- no secret in a shared row ------------------------------------------------------------------


@pytest.mark.parametrize(
    "leads_to",
    [
        pytest.param(f"/leak/{TOKEN}/jobs", id="a path with the token answering 500"),
        pytest.param(f"http://{TOKEN}.invalid/jobs", id="a host built from the token that does not resolve"),
    ],
)
def test_no_text_the_politeness_layer_stores_holds_the_platforms_token(
    pg_engine: Engine,
    http_server: LocalHTTPServer,
    http_client: httpx.Client,
    sharing: Settings,
    leads_to: str,
) -> None:
    http_server.redirect("/jobs", leads_to)
    http_server.route(f"/leak/{TOKEN}/jobs", status=500)
    with pg_engine.begin() as conn:
        platform_id = add_platform(
            conn,
            source="json_api",
            config=json_api_config(http_server.url("/jobs"), params={"token": "{token}"}),
            credentials_secret=SECRET_ARN,
        )

    failure = _collect(pg_engine, http_client, sharing, platform_id)

    assert isinstance(failure, TransientSourceError)  # retried: a 5xx, a host that does not resolve
    with pg_engine.connect() as conn:
        stored = [
            str(value)
            for table in (fetch_cache, fetch_hosts, runs, platforms)
            for row in conn.execute(select(table))
            for value in row
        ]
        (error,) = conn.execute(select(fetch_cache.c.error)).scalars().all()
    assert error and "***" in error  # the shared failure is kept for waiters, masked
    assert [value for value in stored if TOKEN.lower() in value.lower()] == []


# --- a body nobody can read ---------------------------------------------------------------------


def test_a_body_that_failed_to_parse_is_not_served_again(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route_sequence(
        "/jobs",
        [{"body": b'{"jobs": [{"id": 1'}, {"body": jobs_payload(2)}],  # cut short, then whole
    )
    first, second = _json_api(pg_engine, http_server.url("/jobs"), 2)

    broken = _collect(pg_engine, http_client, sharing, first)
    retried = _collect(pg_engine, http_client, sharing, first, trigger="on_demand")
    other = _collect(pg_engine, http_client, sharing, second)

    assert isinstance(broken, CollectResult) and broken.outcome == "failed"
    assert "could not be parsed" in (broken.error or "")
    assert isinstance(retried, CollectResult) and (retried.outcome, retried.inserted) == ("success", 2)
    # The whole answer the retry fetched is the one shared within the window now.
    assert isinstance(other, CollectResult) and (other.outcome, other.inserted) == ("success", 2)
    assert len(http_server.requests_to("/jobs")) == 2
    assert [run.shared_fetch for run in runs_of(pg_engine, second)] == [True]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param({"body": b"<html>maintenance</html>"}, id="a 200 nobody can parse"),
        pytest.param({"status": 500}, id="a 500"),
    ],
)
def test_a_failure_of_a_shared_answer_counts_once_not_once_per_watcher(
    pg_engine: Engine,
    http_server: LocalHTTPServer,
    http_client: httpx.Client,
    sharing: Settings,
    answer: dict[str, Any],
) -> None:
    # Slow, so the other watchers find the fetch in flight and wait for its answer.
    http_server.route("/jobs", delay=2.0, **answer)
    fetcher, *watchers = _json_api(pg_engine, http_server.url("/jobs"), 3)

    with ThreadPoolExecutor(max_workers=3) as pool:
        fetching = pool.submit(_collect, pg_engine, http_client, sharing, fetcher)
        wait_for(lambda: http_server.requests_to("/jobs"), timeout=30)
        waiting = [pool.submit(_collect, pg_engine, http_client, sharing, w) for w in watchers]
        results = [future.result(timeout=60) for future in (fetching, *waiting)]

    assert len(http_server.requests_to("/jobs")) == 1
    outcomes = [r.outcome if isinstance(r, CollectResult) else "retried" for r in results]
    assert outcomes == (["failed"] * 3 if "body" in answer else ["retried"] * 3)
    failures = {pid: platform_row(pg_engine, pid).consecutive_failures for pid in (fetcher, *watchers)}
    assert sum(failures.values()) == 1, failures
    # Every watcher records its failed run, and says whose answer it was.
    for watcher in watchers:
        (run,) = runs_of(pg_engine, watcher)
        assert run.outcome == "failed" and run.error


# --- on demand means now ------------------------------------------------------------------------


def test_an_on_demand_collection_fetches_afresh_and_refreshes_the_answer_for_everyone(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route_sequence("/jobs", [{"body": jobs_payload(1)}, {"body": jobs_payload(3)}])
    first, second = _json_api(pg_engine, http_server.url("/jobs"), 2)

    scheduled = _collect(pg_engine, http_client, sharing, first)
    now = _collect(pg_engine, http_client, sharing, first, trigger=None)
    shared = _collect(pg_engine, http_client, sharing, second)

    assert isinstance(scheduled, CollectResult) and scheduled.inserted == 1
    assert isinstance(now, CollectResult) and (now.outcome, now.inserted) == ("success", 2)
    assert isinstance(shared, CollectResult) and (shared.outcome, shared.inserted) == ("success", 3)
    assert len(http_server.requests_to("/jobs")) == 2
    assert [run.shared_fetch for run in runs_of(pg_engine, first)] == [False, False]
    assert [run.shared_fetch for run in runs_of(pg_engine, second)] == [True]


def test_an_on_demand_collection_keeps_to_the_hosts_spacing(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route("/jobs", body=jobs_payload(1))
    (platform_id,) = _json_api(pg_engine, http_server.url("/jobs"))
    _manage(pg_engine, "127.0.0.1", spacing_ms=60_000)

    assert isinstance(result := _collect(pg_engine, http_client, sharing, platform_id), CollectResult)
    assert result.outcome == "success"
    forced = _collect(pg_engine, http_client, sharing, platform_id, trigger="on_demand")

    assert isinstance(forced, CollectResult) and forced.outcome == "deferred"
    assert "spacing 60 s" in (forced.error or "")
    assert len(http_server.requests_to("/jobs")) == 1


# --- limits belong to the host that answered ----------------------------------------------------


def test_a_429_after_a_redirect_holds_the_host_that_sent_it(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    elsewhere = f"http://localhost:{http_server.port}"
    http_server.redirect("/jobs", f"{elsewhere}/limited")
    http_server.route("/limited", status=429, headers={"Retry-After": "3600"})
    http_server.route("/other", body=jobs_payload(1, prefix="other"))
    _manage(pg_engine, "127.0.0.1", "localhost")
    (redirected,) = _json_api(pg_engine, http_server.url("/jobs"))
    (same_first_host,) = _json_api(pg_engine, http_server.url("/other"))
    (on_the_held_host,) = _json_api(pg_engine, f"{elsewhere}/other")

    limited = _collect(pg_engine, http_client, sharing, redirected)
    free = _collect(pg_engine, http_client, sharing, same_first_host)
    held = _collect(pg_engine, http_client, sharing, on_the_held_host)

    assert isinstance(limited, CollectResult) and (limited.outcome, limited.http_status) == (
        "rate_limited",
        429,
    )
    hosts = _hosts(pg_engine)
    assert hosts["127.0.0.1"].retry_after_until is None
    assert hosts["localhost"].retry_after_until >= utcnow() + timedelta(minutes=50)
    assert isinstance(free, CollectResult) and free.outcome == "success"
    assert isinstance(held, CollectResult) and held.outcome == "rate_limited"
    assert "Retry-After seen by another platform" in (held.error or "")
    assert len(http_server.requests_to("/other")) == 1  # the held host was not asked


def test_spacing_and_slots_are_taken_on_every_host_a_redirect_reaches(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    elsewhere = f"http://localhost:{http_server.port}"
    http_server.redirect("/jobs", f"{elsewhere}/moved")
    http_server.redirect("/more", f"{elsewhere}/moved")
    http_server.route("/moved", body=jobs_payload(1))
    _manage(pg_engine, "127.0.0.1", spacing_ms=0)
    _manage(pg_engine, "localhost", spacing_ms=60_000)
    first, second = _json_api(pg_engine, http_server.url("/jobs")) + _json_api(
        pg_engine, http_server.url("/more")
    )
    before = utcnow()

    done = _collect(pg_engine, http_client, sharing, first)
    spaced = _collect(pg_engine, http_client, sharing, second)

    assert isinstance(done, CollectResult) and done.outcome == "success"
    hosts = _hosts(pg_engine)
    assert hosts["localhost"].next_request_at >= before + timedelta(seconds=59)
    # The second platform's first host is free; the host its redirect leads to is spaced.
    assert isinstance(spaced, CollectResult) and spaced.outcome == "deferred"
    assert "localhost" in (spaced.error or "") and "spacing 60 s" in (spaced.error or "")
    assert len(http_server.requests_to("/more")) == 1 and len(http_server.requests_to("/moved")) == 1
    with pg_engine.connect() as conn:
        assert conn.execute(select(host_limits.fetch_host_leases)).all() == []  # every slot given back
