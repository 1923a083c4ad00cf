"""The outbox against moto EventBridge (a rule into a queue) on PostgreSQL: per-entry
failures, a crash between commit and publish, racing ticks, pruning and the pending age."""

from __future__ import annotations

import io
import threading
from collections import Counter
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select, update

from charlee_collector.app import publishing as outbox
from charlee_collector.app.collect import collect_platform
from charlee_collector.app.collected_event import CollectedEvent
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.clock import utcnow
from charlee_collector.core.settings import Settings
from charlee_collector.observability.logger import logger
from charlee_collector.store.tables import event_outbox
from tests.integration.test_observability import jobs_payload, json_api
from tests.support.aws import Bus
from tests.support.factories import add_platform


class RefusingEvents:
    """The moto client, except that PutEvents refuses the entries of chosen event ids, each
    with the per-entry answer EventBridge gives (FailedEntryCount, ErrorCode)."""

    def __init__(self, real: Any, refuse: set[str]) -> None:
        self.real, self.refuse = real, refuse

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        answers: list[dict[str, Any]] = []
        for entry in Entries:
            if any(event_id in entry["Detail"] for event_id in self.refuse):
                answers.append({"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"})
            else:
                answers.extend(self.real.put_events(Entries=[entry])["Entries"])
        return {"FailedEntryCount": sum("ErrorCode" in a for a in answers), "Entries": answers}


class CountingEvents:
    """The moto client, counting every entry sent per event id (to prove none went twice)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sent: Counter[str] = Counter()
        self._lock = threading.Lock()

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.sent.update(entry["Detail"] for entry in Entries)
        return dict(self.real.put_events(Entries=Entries))


class DyingProcess(BaseException):
    """What the process dying right after the commit looks like to the code after it."""


class DyingEvents:
    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        raise DyingProcess


@pytest.fixture
def settings(allow_private_networks: Settings) -> Settings:
    return allow_private_networks


def _platform(engine: Engine, http_server: Any, path: str, *jobs: tuple[str, str]) -> int:
    http_server.route(path, body=jobs_payload(*jobs))
    with engine.begin() as conn:
        return add_platform(conn, source="json_api", config=json_api(http_server.url(path)))


def _collect(engine: Engine, client: httpx.Client, settings: Settings, platform_id: int, bus: Any) -> str:
    message = CollectMessage(platform_id=platform_id, trigger="on_demand", force=True)
    return collect_platform(engine, client, message, settings, event_bus=bus).outcome


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(event_outbox).order_by(event_outbox.c.id)))


def _after_lease() -> Any:
    later = utcnow() + outbox.LEASE + timedelta(seconds=1)
    return lambda: later


def test_refused_entries_stay_pending_and_the_next_tick_publishes_each_once(
    pg_engine: Engine, http_server: Any, http_client: httpx.Client, settings: Settings, event_bus: Bus
) -> None:
    ids = [_platform(pg_engine, http_server, f"/{n}.json", (f"job-{n}", f"Job {n}")) for n in range(3)]
    for platform_id in ids:  # no bus yet: three events wait under the collectors' leases
        assert _collect(pg_engine, http_client, settings, platform_id, None) == "success"
    refused = _rows(pg_engine)[1].event_id
    bus = outbox.EventBus(RefusingEvents(event_bus.client, {refused}), event_bus.name)

    first = outbox.tick(pg_engine, bus, clock=_after_lease())

    assert (first.published, first.failed) == (2, 1)
    rows = {row.event_id: row for row in _rows(pg_engine)}
    assert rows[refused].published_at is None and rows[refused].attempts == 1
    assert rows[refused].last_error == "ThrottlingException: Rate exceeded"
    # Backing off: offered again once its delay (one minute after a first refusal) has passed.
    assert rows[refused].retry_at > utcnow() + outbox.retry_delay(1) - timedelta(seconds=30)
    assert first.oldest_pending_seconds > 0
    bus = outbox.EventBus(event_bus.client, event_bus.name)
    assert outbox.tick(pg_engine, bus).published == 0

    after_backoff = utcnow() + outbox.LEASE + outbox.retry_delay(1) + timedelta(seconds=2)
    second = outbox.tick(pg_engine, bus, clock=lambda: after_backoff)

    assert (second.published, second.failed, second.oldest_pending_seconds) == (1, 0, 0.0)
    delivered = Counter(event["detail"]["event_id"] for event in event_bus.delivered())
    assert delivered == Counter(set(rows))  # all three, once each


def test_a_collection_whose_entry_is_refused_still_succeeds(
    pg_engine: Engine, http_server: Any, http_client: httpx.Client, settings: Settings, event_bus: Bus
) -> None:
    platform_id = _platform(pg_engine, http_server, "/jobs.json", ("a", "Job A"))
    refusing = RefusingEvents(event_bus.client, {"-"})  # every event id has a dash

    assert (
        _collect(pg_engine, http_client, settings, platform_id, outbox.EventBus(refusing, event_bus.name))
        == "success"
    )

    (row,) = _rows(pg_engine)
    assert (row.published_at, row.attempts) == (None, 1)
    later = lambda: utcnow() + outbox.retry_delay(1)  # noqa: E731  (its backoff has passed)
    assert (
        outbox.tick(pg_engine, outbox.EventBus(event_bus.client, event_bus.name), clock=later).published == 1
    )
    assert len(event_bus.delivered()) == 1


def test_a_crash_between_commit_and_publish_is_published_once_after_the_lease(
    pg_engine: Engine, http_server: Any, http_client: httpx.Client, settings: Settings, event_bus: Bus
) -> None:
    platform_id = _platform(pg_engine, http_server, "/jobs.json", ("a", "Job A"), ("b", "Job B"))
    with pytest.raises(DyingProcess):
        _collect(
            pg_engine, http_client, settings, platform_id, outbox.EventBus(DyingEvents(), event_bus.name)
        )
    (row,) = _rows(pg_engine)  # committed with its opportunities, never published
    assert row.published_at is None
    bus = outbox.EventBus(event_bus.client, event_bus.name)

    # Within the lease the dead collector still "holds" it: no tick sends it meanwhile.
    assert outbox.tick(pg_engine, bus).published == 0
    assert outbox.tick(pg_engine, bus, clock=_after_lease()).published == 1
    assert outbox.tick(pg_engine, bus, clock=_after_lease()).published == 0

    (event,) = event_bus.delivered()
    assert event["detail"]["event_id"] == row.event_id
    assert [o["external_id"] for o in event["detail"]["opportunities"]] == ["a", "b"]


def _pending(engine: Engine, count: int) -> None:
    long_ago = utcnow() - timedelta(hours=1)  # their writers' leases ran out long ago
    with engine.begin() as conn:
        for n in range(count):
            event = CollectedEvent(f"event-{n:04d}", 1, 1, n, f'{{"event_id": "event-{n:04d}"}}')
            outbox.enqueue(conn, event, now=long_ago)


def test_two_ticks_racing_over_500_pending_events_publish_each_once(
    pg_engine: Engine, event_bus: Bus
) -> None:
    _pending(pg_engine, 500)
    # A bus of its own with no rule: moto delivering 500 events to a queue takes half a minute,
    # and what is asserted is what reached PutEvents.
    event_bus.client.create_event_bus(Name="race")
    counting = CountingEvents(event_bus.client)
    bus = outbox.EventBus(counting, "race")
    start = threading.Barrier(2)
    summaries: list[outbox.PublishSummary] = []

    def run() -> None:
        start.wait()
        summaries.append(outbox.publish_pending(pg_engine, bus))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(s.published for s in summaries) == 500 and sum(s.failed for s in summaries) == 0
    assert len(counting.sent) == 500 and set(counting.sent.values()) == {1}
    with pg_engine.connect() as conn:
        assert (
            conn.execute(select(func.count()).where(event_outbox.c.published_at.is_(None))).scalar_one() == 0
        )


def test_published_rows_are_pruned_after_the_retention_a_bounded_number_per_call(
    pg_engine: Engine, event_bus: Bus
) -> None:
    _pending(pg_engine, 30)
    now = utcnow()
    with pg_engine.begin() as conn:
        # 25 published eight days ago, 3 yesterday; 2 still pending.
        for first, last, when in ((0, 25, now - timedelta(days=8)), (25, 28, now - timedelta(days=1))):
            ids = select(event_outbox.c.id).order_by(event_outbox.c.id).offset(first).limit(last - first)
            conn.execute(
                update(event_outbox)
                .where(event_outbox.c.id.in_(ids.scalar_subquery()))
                .values(published_at=when)
            )

    assert outbox.prune_published(pg_engine, now=now, batch=10, batches=2) == 20
    assert outbox.prune_published(pg_engine, now=now, batch=10, batches=2) == 5
    assert outbox.prune_published(pg_engine, now=now) == 0
    rows = _rows(pg_engine)
    assert len(rows) == 5 and sum(row.published_at is None for row in rows) == 2


def test_the_tick_reports_how_long_the_oldest_event_waited(pg_engine: Engine) -> None:
    assert outbox.tick(pg_engine, None).oldest_pending_seconds == 0.0
    _pending(pg_engine, 2)
    now = utcnow()
    summary = outbox.tick(pg_engine, None, clock=lambda: now)  # no bus: nothing published
    assert summary.published == 0
    with pg_engine.connect() as conn:
        oldest = conn.execute(select(func.min(event_outbox.c.created_at))).scalar_one()
    assert summary.oldest_pending_seconds == (now - oldest).total_seconds()


def test_without_a_bus_events_wait_and_the_warning_is_said_once_per_process(
    pg_engine: Engine,
    http_server: Any,
    http_client: httpx.Client,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(outbox, "_said_no_bus", False)  # as in a new process
    first = _platform(pg_engine, http_server, "/a", ("a1", "Job A1"))
    second = _platform(pg_engine, http_server, "/b", ("b1", "Job B1"))
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        outcomes = [_collect(pg_engine, http_client, settings, p, None) for p in (first, second)]
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]

    assert outcomes == ["success"] * 2
    said = [line for line in stream.getvalue().splitlines() if "no event bus configured" in line]
    assert len(said) == 1
    assert [row.published_at for row in _rows(pg_engine)] == [None, None]  # both wait in the outbox
