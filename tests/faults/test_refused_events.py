"""Events EventBridge refuses every time, at the head of the outbox (DESIGN section 9).

EventBridge itself (moto) refuses an entry whose detail is not JSON (``MalformedDetail``), every
time. A refused row backs off on its own schedule and the claims pass over it, so the rows after it
are published on the same tick; refused ``MAX_ATTEMPTS`` times, it is dead-lettered: no longer
pending, counted by ``EventsDeadLettered``, shown by ``events list``. A bus that cannot be reached
at all (a closed port) ends the tick's publishing and never brings a row nearer that end.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from sqlalchemy import URL, Engine, select

from charlee_collector.app import publishing as outbox
from charlee_collector.app.collected_event import CollectedEvent
from charlee_collector.core.clock import utcnow
from charlee_collector.observability.metrics import Metric, metrics
from charlee_collector.store.tables import event_outbox
from tests.support.aws import Bus
from tests.support.cli import Cli

HEAD = 120  # more than one claim (outbox.CLAIM_SIZE) of refused events before the good one


def _enqueue(engine: Engine, names: list[str], *, at: datetime) -> None:
    """Events named ``names``; those named ``refused-...`` carry a detail EventBridge refuses."""
    with engine.begin() as conn:
        for n, name in enumerate(names):
            detail = "not json" if name.startswith("refused-") else f'{{"event_id": "{name}"}}'
            outbox.enqueue(conn, CollectedEvent(name, 1, 1, n, detail), now=at)


def _state(engine: Engine) -> dict[str, Any]:
    with engine.connect() as conn:
        return {row.event_id: row for row in conn.execute(select(event_outbox))}


def _at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def _emitted(name: Metric) -> float:
    """The sum of ``name``'s values added since the metrics were last cleared."""
    value = metrics.serialize_metric_set().get(name.value, 0)
    return float(sum(value) if isinstance(value, list) else value)


def test_refused_events_at_the_head_never_hold_up_the_ones_after_them(
    pg_engine: Engine, event_bus: Bus
) -> None:
    start = utcnow() - timedelta(hours=1)  # their writers' leases ran out long ago
    _enqueue(pg_engine, [f"refused-{n:03d}" for n in range(HEAD)], at=start)
    _enqueue(pg_engine, ["newer-event"], at=start + timedelta(minutes=1))
    bus = outbox.EventBus(event_bus.client, event_bus.name)

    first = outbox.tick(pg_engine, bus)

    assert (first.published, first.failed) == (1, HEAD)
    assert [e["detail"]["event_id"] for e in event_bus.delivered()] == ["newer-event"]
    rows = _state(pg_engine)
    assert {rows[f"refused-{n:03d}"].attempts for n in range(HEAD)} == {1}
    # The next tick passes over them while they back off; an operator's flush offers them again.
    assert outbox.tick(pg_engine, bus).failed == 0
    assert outbox.publish_pending(pg_engine, bus, max_rows=1_000_000, flush=True).failed == HEAD


def test_an_event_refused_every_time_ends_dead_lettered_counted_and_listed(
    pg_engine: Engine, event_bus: Bus, postgres_url: URL, tmp_path: Path
) -> None:
    now = utcnow() - timedelta(days=1)
    _enqueue(pg_engine, ["refused-always"], at=now - timedelta(hours=1))
    bus = outbox.EventBus(event_bus.client, event_bus.name)
    metrics.clear_metrics()

    for attempt in range(1, outbox.MAX_ATTEMPTS + 1):
        summary = outbox.publish_pending(pg_engine, bus, clock=_at(now))
        assert summary.failed == 1, attempt
        row = _state(pg_engine)["refused-always"]
        assert row.attempts == attempt
        if attempt < outbox.MAX_ATTEMPTS:
            assert row.dead_lettered_at is None and row.retry_at == now + outbox.retry_delay(attempt)
            assert (
                outbox.publish_pending(pg_engine, bus, clock=_at(row.retry_at - timedelta(seconds=1))).failed
                == 0
            )
            now = row.retry_at
    assert summary.dead_lettered == 1 and _emitted(Metric.EVENTS_DEAD_LETTERED) == 1
    assert (row.dead_lettered_at, row.published_at) == (now, None)
    # No longer pending: never offered again, and not what the pending-age alarm measures.
    later = now + timedelta(days=1)
    assert outbox.publish_pending(pg_engine, bus, clock=_at(later)) == outbox.PublishSummary()
    with pg_engine.connect() as conn:
        assert outbox.oldest_pending_age(conn, now=later) == 0.0
    metrics.clear_metrics()

    cli = Cli(tmp_path, {"DATABASE_URL": postgres_url.render_as_string(hide_password=False)})
    (listed,) = cli.json("events", "list", "--dead-lettered")
    assert listed["event_id"] == "refused-always" and listed["attempts"] == outbox.MAX_ATTEMPTS
    assert listed["last_error"] == "MalformedDetail: Detail is malformed."
    assert "dead-lettered" in cli("events", "list").stdout
    assert cli.json("events", "list", "--pending") == []


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_bus_that_cannot_be_reached_ends_the_tick_and_never_ends_an_event(pg_engine: Engine) -> None:
    now = utcnow()
    _enqueue(pg_engine, [f"waiting-{n:03d}" for n in range(HEAD)], at=now - timedelta(hours=1))
    unreachable = boto3.client(
        "events",
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2),
    )
    bus = outbox.EventBus(unreachable, "charlee")

    for _ in range(outbox.MAX_ATTEMPTS + 2):
        summary = outbox.publish_pending(pg_engine, bus, clock=_at(now))
        # One claim, then the call ends: every PutEvents of it failed as a whole.
        assert (summary.failed, summary.unanswered, summary.dead_lettered) == (outbox.CLAIM_SIZE,) * 2 + (0,)

    rows = _state(pg_engine)
    assert {(row.dead_lettered_at, row.retry_at) for row in rows.values()} == {(None, None)}
    assert max(row.attempts for row in rows.values()) > outbox.MAX_ATTEMPTS
