"""Politeness at scale through the collector: shared fetches per request key, fleet-wide host limits.

Every collection here is ``collect.collect_platform`` against the real local HTTP server (which
counts requests and the most it answered at once) and a real database.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from charlee_collector.app.collect import CollectResult, collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import HttpResponse, Request, build_client
from charlee_collector.observability.metrics import metrics
from charlee_collector.politeness.gate import PoliteFetches
from charlee_collector.store import host_slots as host_limits
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import fetch_cache, opportunities, platforms, runs
from tests.faults.harness import jobs_payload
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

REMOTIVE = Path(__file__).resolve().parents[1] / "fixtures" / "sources" / "remotive.json"
# remotive.json holds "Django Freelancer", "Brand Designer", "Technical Writer".
FILTERS: list[tuple[dict[str, Any], int]] = [
    ({}, 3),
    ({"keywords": ["django"]}, 1),
    ({"keywords": ["designer", "writer"]}, 2),
    ({"exclude_keywords": ["django"]}, 2),
]


@pytest.fixture(autouse=True)
def _no_metrics_left_behind() -> Iterator[None]:
    """collect_platform runs here without the handler, which flushes its metrics: drop them, so a
    later test's handler does not publish these."""
    yield
    metrics.clear_metrics()


def _collect(
    engine: Engine,
    client: httpx.Client,
    settings: Settings,
    platform_id: int,
    *,
    trigger: str = "schedule",
    **kw: Any,
) -> CollectResult:
    """One collection as the dispatcher's message asks for it (``trigger="on_demand"``: forced)."""
    message = CollectMessage.model_validate({"platform_id": platform_id, "trigger": trigger})
    return collect_platform(engine, client, message, settings, **kw)


def _concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls at once; each gives its result or the exception it raised."""

    def run(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except Exception as exc:  # handed back to the test
            return exc

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _remotive(engine: Engine, url: str, count: int, **columns: Any) -> list[int]:
    with engine.begin() as conn:
        return [
            add_platform(
                conn,
                user_id=100 + n,
                source="remotive",
                config={"url": url, **FILTERS[n % len(FILTERS)][0]},
                **columns,
            )
            for n in range(count)
        ]


def test_platforms_with_one_key_share_one_upstream_fetch(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    # Slow enough that the collections overlap: all but one wait for the fetch in flight.
    http_server.route_file("/remote-jobs", REMOTIVE, delay=0.3, etag='"v1"')
    ids = _remotive(pg_engine, http_server.url("/remote-jobs?category=software-dev"), 8)

    results = _concurrently([lambda i=i: _collect(pg_engine, http_client, sharing, i) for i in ids])

    assert len(http_server.requests_to("/remote-jobs")) == 1
    assert [r.outcome for r in results] == ["success"] * 8
    with pg_engine.connect() as conn:
        shared = conn.execute(select(runs.c.shared_fetch).order_by(runs.c.shared_fetch)).scalars().all()
        rows = dict(
            conn.execute(
                select(opportunities.c.platform_id, func.count()).group_by(opportunities.c.platform_id)
            ).all()
        )
        owners = dict(
            conn.execute(select(opportunities.c.platform_id, opportunities.c.user_id).distinct()).all()
        )
    assert shared == [False] + [True] * 7  # one run fetched, seven read its response
    # Each platform applied its own filters and owns its own rows.
    assert rows == {platform_id: FILTERS[n % len(FILTERS)][1] for n, platform_id in enumerate(ids)}
    assert owners == {platform_id: 100 + n for n, platform_id in enumerate(ids)}


def test_conditional_get_belongs_to_the_key(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    expired_at_once = dataclasses.replace(sharing, shared_fetch_window_seconds=0.000001)
    http_server.route_file("/remote-jobs", REMOTIVE, etag='"v1"')
    first, second = _remotive(pg_engine, http_server.url("/remote-jobs"), 2)

    assert _collect(pg_engine, http_client, expired_at_once, first).outcome == "success"
    # A platform that never collected still sends the key's validator, and the 304 serves it
    # the stored body in full.
    result = _collect(pg_engine, http_client, expired_at_once, second)
    assert (result.outcome, result.fetched - result.filtered) == ("success", FILTERS[1][1])
    sent = http_server.requests_to("/remote-jobs")
    assert [r.headers.get("If-None-Match") for r in sent] == [None, '"v1"']


def test_requests_with_credentials_are_shared_only_under_the_same_secret(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route("/jobs", body=jobs_payload(2), content_type="application/json")
    config = {
        "url": http_server.url("/jobs"),
        "items": "jobs",
        "headers": {"Authorization": "Bearer {api_key}"},
    }
    arns = [
        "arn:secret:charlee/test/team-a",
        "arn:secret:charlee/test/team-a",
        "arn:secret:charlee/test/team-b",
    ]
    with pg_engine.begin() as conn:
        ids = [add_platform(conn, source="json_api", config=config, credentials_secret=arn) for arn in arns]

    def read_secret(arn: str) -> dict[str, str]:
        return {"api_key": "s3cr3t-value"}  # the same value under both ARNs: the ARN keeps them apart

    for platform_id in ids:
        assert (
            _collect(pg_engine, http_client, sharing, platform_id, secret_reader=read_secret).outcome
            == "success"
        )

    assert len(http_server.requests_to("/jobs")) == 2
    with pg_engine.connect() as conn:
        stored = [str(value) for row in conn.execute(select(fetch_cache)) for value in row]
    assert len(stored) == 2 * len(fetch_cache.c)
    assert not [value for value in stored if "s3cr3t-value" in value]


def test_collections_that_waited_share_the_failure_of_the_fetch(pg_engine: Engine, sharing: Settings) -> None:
    """Through the gate itself, with an upstream the test controls: the fetch fails only once
    both other collections are seen waiting for it, so the order is certain."""
    url = httpx.URL("http://127.0.0.1:9/remote-jobs")
    entered, fail_now = threading.Event(), threading.Event()
    waiting = [threading.Event(), threading.Event()]
    calls: list[str] = []

    def failing_upstream(request: Request, turn: object) -> HttpResponse:
        calls.append("upstream")
        entered.set()
        assert fail_now.wait(30)
        raise TransientSourceError("127.0.0.1 answered 500 Internal Server Error", http_status=500)

    def gate(seen_waiting: threading.Event | None = None) -> PoliteFetches:
        def sleep(seconds: float) -> None:
            if seen_waiting is not None:
                seen_waiting.set()
            time.sleep(seconds)

        options = {"credentials_secret": None, "secrets": None, "interval_minutes": 15}
        return PoliteFetches(pg_engine, sharing, source="remotive", sleep=sleep, **options)

    def fetch(g: PoliteFetches) -> Any:
        return g.get(Request(url, {"Accept": "application/json"}), failing_upstream)

    with ThreadPoolExecutor(max_workers=3) as pool:
        first = pool.submit(fetch, gate())
        assert entered.wait(30)  # the first holds the key's lease and is fetching
        others = [pool.submit(fetch, gate(event)) for event in waiting]
        assert all(event.wait(30) for event in waiting)  # both found the fetch in flight
        fail_now.set()
        errors = [future.exception(timeout=30) for future in (first, *others)]

    assert calls == ["upstream"]
    assert all(isinstance(error, TransientSourceError) and error.http_status == 500 for error in errors)
    assert ["the shared fetch of this request failed" in str(error) for error in errors] == [
        False,
        True,
        True,
    ]


def test_a_429_on_one_platform_holds_every_platform_on_the_host(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route("/limited", status=429, headers={"Retry-After": "120"})
    http_server.route_file("/other", REMOTIVE)
    with pg_engine.begin() as conn:
        # A loopback server is held only once an operator manages it (host_limits.py).
        host_limits.set_override(conn, "127.0.0.1", max_concurrent=4, min_spacing_ms=0, now=utcnow())
        seen = add_platform(conn, source="remotive", config={"url": http_server.url("/limited")})
        other = add_platform(conn, source="remotive", config={"url": http_server.url("/other")})

    first = _collect(pg_engine, http_client, sharing, seen)
    held = _collect(pg_engine, http_client, sharing, other)

    assert (first.outcome, first.http_status) == ("rate_limited", 429)
    assert held.outcome == "rate_limited" and "Retry-After seen by another platform" in (held.error or "")
    assert http_server.requests_to("/other") == []
    with pg_engine.connect() as conn:
        due = dict(conn.execute(select(platforms.c.id, platforms.c.next_collection_at)).all())
    assert due[other] >= utcnow() + timedelta(seconds=100)  # not before the host's Retry-After
    # The held platform had taken its request's lease before asking for a slot: it gave it up,
    # so nobody waits for a fetch that is not happening.
    with pg_engine.connect() as conn:
        leases = conn.execute(select(fetch_cache.c.url, fetch_cache.c.lease_owner)).all()
    assert leases and all(owner is None for _url, owner in leases), leases


def test_no_slot_soon_records_a_deferred_run_due_when_the_slot_opens(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    http_server.route_file("/remote-jobs", REMOTIVE)
    (platform_id,) = _remotive(pg_engine, http_server.url("/remote-jobs"), 1)
    now = utcnow()
    with pg_engine.begin() as conn:
        host_limits.set_override(conn, "127.0.0.1", max_concurrent=1, min_spacing_ms=0, now=now)
        taken = host_limits.try_acquire(
            conn, "127.0.0.1", "another collector", now=now, lease_for=timedelta(minutes=2)
        )
    assert taken.lease_id is not None
    impatient = dataclasses.replace(sharing, host_slot_wait_seconds=0.0)

    result = _collect(pg_engine, http_client, impatient, platform_id)

    assert result.outcome == "deferred" and "1 of 1 slots in use" in (result.error or "")
    assert http_server.requests_to("/remote-jobs") == []
    with pg_engine.connect() as conn:
        platform = conn.execute(select(platforms).where(platforms.c.id == platform_id)).one()
        run = conn.execute(select(runs)).one()
    # Due again when the other collector's slot expires at the latest; not counted as a failure.
    assert abs(platform.next_collection_at - (now + timedelta(minutes=2))) < timedelta(seconds=1)
    assert (platform.consecutive_failures, run.shared_fetch) == (0, None)


def test_a_fetch_in_flight_that_does_not_finish_in_the_wait_defers(
    pg_engine: Engine, http_server: LocalHTTPServer, http_client: httpx.Client, sharing: Settings
) -> None:
    from charlee_collector.politeness import shared_fetches as fetch_cache

    http_server.route_file("/remote-jobs", REMOTIVE)
    url = http_server.url("/remote-jobs")
    (platform_id,) = _remotive(pg_engine, url, 1)
    key = fetch_cache.request_key("remotive", httpx.URL(url), {"Accept": "application/json"}, None)
    with pg_engine.begin() as conn:  # another collector holds the key's lease
        fetch_cache.claim(
            conn,
            key,
            "another collector",
            source="remotive",
            url=httpx.URL(url),
            now=utcnow(),
            window=timedelta(minutes=15),
            lease_for=timedelta(minutes=1),
        )

    result = _collect(
        pg_engine, http_client, dataclasses.replace(sharing, shared_fetch_wait_seconds=0.0), platform_id
    )

    assert result.outcome == "deferred" and "SHARED_FETCH_WAIT_SECONDS" in (result.error or "")
    assert http_server.requests_to("/remote-jobs") == []


@pytest.fixture
def four_collectors(
    pg_engine: Engine, allow_private_networks: Settings
) -> Iterator[list[tuple[Engine, httpx.Client]]]:
    """Four collectors sharing nothing but the database: an engine and an HTTP client each."""
    collectors = [
        (create_db_engine(pg_engine.url, pool_size=2), build_client(allow_private_networks)) for _ in range(4)
    ]
    yield collectors
    for engine, client in collectors:
        client.close()
        engine.dispose()


def test_host_limits_hold_across_four_concurrent_collectors(
    pg_engine: Engine,
    http_server: LocalHTTPServer,
    sharing: Settings,
    four_collectors: list[tuple[Engine, httpx.Client]],
) -> None:
    for n in range(8):
        http_server.route(f"/jobs/{n}", body=jobs_payload(1, prefix=f"p{n}"), delay=0.2)
    with pg_engine.begin() as conn:
        host_limits.set_override(conn, "127.0.0.1", max_concurrent=2, min_spacing_ms=0, now=utcnow())
        ids = [
            add_platform(
                conn, source="json_api", config={"url": http_server.url(f"/jobs/{n}"), "items": "jobs"}
            )
            for n in range(8)
        ]
    patient = dataclasses.replace(sharing, host_slot_wait_seconds=30.0)

    def collector(n: int) -> list[str]:
        engine, client = four_collectors[n]
        return [_collect(engine, client, patient, platform_id).outcome for platform_id in ids[n::4]]

    outcomes = _concurrently([lambda n=n: collector(n) for n in range(4)])

    assert outcomes == [["success", "success"]] * 4
    assert len(http_server.requests) == 8
    assert http_server.max_in_flight <= 2
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(host_limits.fetch_host_leases)).scalar_one() == 0


def test_spacing_and_overrides_decide_the_next_slot(pg_engine: Engine) -> None:
    now = utcnow()
    lease = timedelta(seconds=40)
    with pg_engine.begin() as conn:
        assert host_limits.limit_for(conn, "remotive.com").max_concurrent == 1
        assert host_limits.limit_for(conn, "feeds.example.org") == host_limits.GLOBAL_DEFAULT
        host_limits.set_override(conn, "Feeds.Example.org", max_concurrent=None, min_spacing_ms=3000, now=now)
        limit = host_limits.limit_for(conn, "feeds.example.org")
        assert (limit.max_concurrent, limit.min_spacing) == (2, timedelta(seconds=3))
        first = host_limits.try_acquire(conn, "feeds.example.org", "a", now=now, lease_for=lease)
        early = host_limits.try_acquire(
            conn, "feeds.example.org", "b", now=now + timedelta(seconds=2), lease_for=lease
        )
        later = host_limits.try_acquire(
            conn, "feeds.example.org", "b", now=now + timedelta(seconds=3), lease_for=lease
        )
        full = host_limits.try_acquire(
            conn, "feeds.example.org", "c", now=now + timedelta(seconds=6), lease_for=lease
        )
        after_expiry = host_limits.try_acquire(
            conn, "feeds.example.org", "c", now=now + lease, lease_for=lease
        )
    assert first.lease_id is not None and later.lease_id is not None and after_expiry.lease_id is not None
    assert early.lease_id is None and early.retry_at == now + timedelta(seconds=3)
    # Both slots are taken: the first frees (expires) at the latest when its lease ends.
    assert full.lease_id is None and full.retry_at == now + lease and "2 of 2" in full.reason


def test_a_request_the_host_never_answered_gives_its_spacing_back(pg_engine: Engine) -> None:
    now = utcnow()
    lease = timedelta(seconds=40)
    with pg_engine.begin() as conn:
        host_limits.set_override(conn, "feeds.example.org", max_concurrent=None, min_spacing_ms=3000, now=now)
        answered = host_limits.try_acquire(conn, "feeds.example.org", "a", now=now, lease_for=lease)
    with pg_engine.begin() as conn:
        host_limits.release(conn, "feeds.example.org", answered, now=now)
    with pg_engine.begin() as conn:
        later = now + timedelta(seconds=3)
        unanswered = host_limits.try_acquire(conn, "feeds.example.org", "a", now=later, lease_for=lease)
    with pg_engine.begin() as conn:
        host_limits.release(conn, "feeds.example.org", unanswered, answered=False, now=later)
    with pg_engine.begin() as conn:
        # The spacing of the answered request stays; the unanswered one's is given back.
        again = host_limits.try_acquire(conn, "feeds.example.org", "b", now=later, lease_for=lease)
    assert again.lease_id is not None and again.previous_next == now + timedelta(seconds=3)


def test_the_window_is_bounded_by_the_smallest_interval_among_the_readers(pg_engine: Engine) -> None:
    from charlee_collector.politeness import shared_fetches as fetch_cache

    url = httpx.URL("https://remotive.com/api/remote-jobs")
    t = utcnow()
    response = HttpResponse(200, b'{"jobs": []}', {}, str(url), '"v1"', None, not_modified=False)

    def claim(owner: str, after: timedelta, window: timedelta) -> fetch_cache.Claim:
        with pg_engine.begin() as conn:
            return fetch_cache.claim(
                conn,
                "k",
                owner,
                source="remotive",
                url=url,
                now=t + after,
                window=window,
                lease_for=timedelta(seconds=40),
            )

    hourly, every_5 = timedelta(minutes=60), timedelta(minutes=5)
    leased = claim("hourly platform", timedelta(0), hourly)
    assert leased.state == "leased"
    with pg_engine.begin() as conn:
        stored = fetch_cache.store(
            conn, leased.entry, "hourly platform", response, requested=url, now=t, window=hourly
        )
    columns = [fetch_cache.fetch_cache.c[name] for name in fetch_cache.CacheEntry.__dataclass_fields__]
    with pg_engine.connect() as conn:
        row = conn.execute(select(*columns)).mappings().one()
    assert stored == fetch_cache.CacheEntry(**row)  # store returns the row as stored, unread
    assert claim("hourly platform", timedelta(minutes=6), hourly).state == "fresh"  # alone: an hour
    assert claim("5-minute platform", timedelta(minutes=1), every_5).state == "fresh"
    # Once a 5-minute platform read it, the response is 5 minutes fresh for every reader.
    assert claim("hourly platform", timedelta(minutes=6), hourly).state == "leased"

    with pg_engine.begin() as conn:  # a day after it expired, and not in flight: pruned
        assert fetch_cache.prune(conn, t + timedelta(days=1, minutes=4)) == 0  # expired less than a day ago
        assert fetch_cache.prune(conn, t + timedelta(days=1, minutes=6)) == 1
