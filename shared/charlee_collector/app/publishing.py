"""The event outbox: write an event with its run, publish it after the commit, prune it later.

``enqueue`` writes the OpportunitiesCollected event (``collected_event``) in the transaction of the
upsert and the run, leased to its collector, which publishes it after the commit
(``publish_written``). The dispatcher's ``tick`` publishes what is still pending, claimed oldest first
with ``FOR UPDATE SKIP LOCKED`` and a lease (no row is sent by two at once), and prunes rows published
(or dead-lettered) more than ``RETENTION`` ago. No failure here fails a collection: a row not
published stays pending for a later tick (docs/faults.md, "Events"), so delivery is at least once,
deduplicated by ``event_id``. A row EventBridge refuses backs off on its own schedule (``retry_delay``:
its ``retry_at``, which a tick's claims pass over until then), so it never holds up the rows after
it; refused ``MAX_ATTEMPTS`` times, it is dead-lettered (``dead_lettered_at``, the
``EventsDeadLettered`` metric and its alarm). A PutEvents call that failed as a whole (the bus
unreachable) releases its rows for the next tick and ends the tick's publishing; it never brings
a row nearer its end. An operator's flush (``events publish``) does not wait for the backoff.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, or_, select, update

from charlee_collector.app.collected_event import DETAIL_TYPE, SOURCE, CollectedEvent
from charlee_collector.core.clock import utcnow
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import Metric, metrics
from charlee_collector.store.tables import event_outbox

BATCH = 10  # PutEvents takes at most 10 entries
CLAIM_SIZE = 100  # rows per claim of a tick: ten PutEvents calls
MAX_PER_TICK = 5_000  # a backlog drains over several ticks instead of holding one up
LEASE = timedelta(minutes=2)  # far above one publish (seconds), far below a schedule period
# A refused row waits 1, 2, 4, ... minutes, at most an hour, before it is offered again; after
# MAX_ATTEMPTS refusals (about five hours of ticks) it is dead-lettered.
RETRY_BASE = timedelta(minutes=1)
RETRY_MAX = timedelta(hours=1)
MAX_ATTEMPTS = 10
RETENTION = timedelta(days=7)
PRUNE_BATCH = 1_000
PRUNE_BATCHES = 20
ERROR_LIMIT = 500

_t = event_outbox.c
_PENDING = _t.published_at.is_(None) & _t.dead_lettered_at.is_(None)


@dataclass(frozen=True)
class EventBus:
    """Where events go: a boto3 EventBridge client (or the local bus, same call) and the bus name."""

    client: Any
    name: str


@dataclass(frozen=True)
class OutboxRow:
    """A pending event as its publisher holds it."""

    id: int
    event_id: str
    detail_type: str
    detail: str
    created_at: datetime


@dataclass(frozen=True)
class PublishSummary:
    """What publishing did: entries accepted and refused, rows pruned, the oldest pending age."""

    published: int = 0
    failed: int = 0  # refused or not answered this time (dead-lettered ones among them)
    pruned: int = 0
    oldest_pending_seconds: float = 0.0
    dead_lettered: int = 0
    unanswered: int = 0  # of ``failed``: in a PutEvents call that failed as a whole

    def __add__(self, other: PublishSummary) -> PublishSummary:
        return PublishSummary(
            self.published + other.published,
            self.failed + other.failed,
            self.pruned + other.pruned,
            max(self.oldest_pending_seconds, other.oldest_pending_seconds),
            self.dead_lettered + other.dead_lettered,
            self.unanswered + other.unanswered,
        )

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


# --- writing ------------------------------------------------------------------------------------


# Built once: the values are parameters (a statement built per call costs its construction and
# cache key, more CPU than running it).
_ENQUEUE = event_outbox.insert().returning(_t.id)


def enqueue(conn: Connection, event: CollectedEvent, *, now: datetime) -> int:
    """Write the event in the caller's transaction, claimed by the caller for LEASE; its row id."""
    values = {
        "event_id": event.event_id,
        "detail_type": DETAIL_TYPE,
        "user_id": event.user_id,
        "platform_id": event.platform_id,
        "run_id": event.run_id,
        "detail": event.detail,
        "created_at": now,
        "claimed_until": now + LEASE,
        "attempts": 0,
    }
    return int(conn.execute(_ENQUEUE, values).scalar_one())


# --- claiming -----------------------------------------------------------------------------------

_ROW_COLUMNS = (_t.id, _t.event_id, _t.detail_type, _t.detail, _t.created_at)


def claim_pending(
    conn: Connection, *, now: datetime, limit: int = CLAIM_SIZE, after_id: int = 0, flush: bool = False
) -> list[OutboxRow]:
    """Take up to ``limit`` pending rows nobody holds, oldest first (ids above ``after_id``), for
    LEASE; rows backing off after a refusal only once their ``retry_at`` came (or, ``flush``, at once)."""
    free = or_(_t.claimed_until.is_(None), _t.claimed_until <= now)
    due = [] if flush else [or_(_t.retry_at.is_(None), _t.retry_at <= now)]
    ids = (
        conn.execute(
            select(_t.id)
            .where(_PENDING, free, *due, _t.id > after_id)
            .order_by(_t.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        .scalars()
        .all()
    )
    if not ids:
        return []
    return _take(conn, ids, now)


def claim_rows(conn: Connection, ids: Sequence[int], *, now: datetime) -> list[OutboxRow]:
    """The given rows, still pending, for their writer to publish (it holds their lease)."""
    rows = conn.execute(select(*_ROW_COLUMNS).where(_t.id.in_(list(ids)), _PENDING).order_by(_t.id))
    return [OutboxRow(*row) for row in rows]


def _take(conn: Connection, ids: Sequence[int], now: datetime) -> list[OutboxRow]:
    rows = conn.execute(
        update(event_outbox)
        .where(_t.id.in_(list(ids)))
        .values(claimed_until=now + LEASE)
        .returning(*_ROW_COLUMNS)
    )
    return sorted((OutboxRow(*row) for row in rows), key=lambda r: r.id)


# --- publishing ---------------------------------------------------------------------------------


def publish_written(engine: Engine, bus: EventBus | None, row_id: int | None) -> PublishSummary:
    """Publish the event a collection just committed; never raises (the row waits for a tick)."""
    if row_id is None:
        return PublishSummary()
    if bus is None:
        _warn_no_bus_once()
        return PublishSummary()
    try:
        with engine.connect() as conn:
            rows = claim_rows(conn, [row_id], now=utcnow())
        return publish_rows(engine, bus, rows)
    except Exception:
        # The database failed after the commit: the row keeps its lease, a tick publishes it.
        logger.exception("event not published; the dispatcher's tick publishes it later")
        return PublishSummary()


_said_no_bus = False


def _warn_no_bus_once() -> None:
    # Once per process, not per collection: the dispatcher's tick says it every tick, and the
    # oldest-pending-age alarm tells the operator (a warning per collection was only noise).
    global _said_no_bus
    if not _said_no_bus:
        _said_no_bus = True
        logger.warning("no event bus configured (EVENT_BUS_NAME); events wait in the outbox")


def retry_delay(attempts: int) -> timedelta:
    """How long a row refused ``attempts`` times waits before it is offered again."""
    return min(RETRY_BASE * 2 ** max(attempts - 1, 0), RETRY_MAX)


def publish_rows(
    engine: Engine, bus: EventBus, rows: Sequence[OutboxRow], *, clock: Callable[[], datetime] = utcnow
) -> PublishSummary:
    """PutEvents in batches of BATCH; accepted rows are marked published, refused ones back off
    (``retry_delay``) or, refused ``MAX_ATTEMPTS`` times, are dead-lettered."""
    published: list[int] = []
    failed: list[dict[str, Any]] = []
    for start in range(0, len(rows), BATCH):
        ok, refused = _put_batch(bus, rows[start : start + BATCH])
        published += ok
        failed += refused
    now = clock()
    dead = 0
    with engine.begin() as conn:
        if published:
            conn.execute(
                update(event_outbox)
                .where(_t.id.in_(published), _PENDING)
                .values(
                    published_at=now,
                    claimed_until=None,
                    retry_at=None,
                    attempts=_t.attempts + 1,
                    last_error=None,
                )
            )
        if failed:
            attempts: dict[int, int] = dict(
                conn.execute(
                    update(event_outbox)
                    .where(_t.id.in_([f["b_id"] for f in failed]))
                    .values(attempts=_t.attempts + 1)
                    .returning(_t.id, _t.attempts)
                ).all()
            )
            settled = [_refused(f, attempts.get(f["b_id"], 1), now) for f in failed]
            conn.execute(
                update(event_outbox)
                .where(_t.id == bindparam("b_id"))
                .values(
                    claimed_until=None,
                    retry_at=bindparam("b_retry"),
                    last_error=bindparam("b_error"),
                    dead_lettered_at=bindparam("b_dead"),
                ),
                settled,
            )
            dead = sum(1 for f in settled if f["b_dead"] is not None)
    if published:
        metrics.add_metric(name=Metric.EVENTS_PUBLISHED, unit="Count", value=len(published))
    if failed:
        metrics.add_metric(name=Metric.EVENTS_FAILED, unit="Count", value=len(failed))
    if dead:
        metrics.add_metric(name=Metric.EVENTS_DEAD_LETTERED, unit="Count", value=dead)
        logger.error(
            "events dead-lettered: EventBridge refused them every time",
            extra={"count": dead, "attempts": MAX_ATTEMPTS},
        )
    unanswered = sum(1 for f in failed if f["unanswered"])
    return PublishSummary(
        published=len(published), failed=len(failed), dead_lettered=dead, unanswered=unanswered
    )


def _refused(failure: dict[str, Any], attempts: int, now: datetime) -> dict[str, Any]:
    """The row's new state: backing off, or dead-lettered after MAX_ATTEMPTS refusals. A row of a
    call that failed as a whole (nothing refused the entry itself) is released for the next tick."""
    refused = not failure["unanswered"]
    dead = refused and attempts >= MAX_ATTEMPTS
    return {
        "b_id": failure["b_id"],
        "b_error": failure["b_error"],
        "b_retry": now + retry_delay(attempts) if refused and not dead else None,
        "b_dead": now if dead else None,
    }


def _put_batch(bus: EventBus, rows: Sequence[OutboxRow]) -> tuple[list[int], list[dict[str, Any]]]:
    """One PutEvents call: the ids accepted, and {b_id, b_error, unanswered} for each refused
    (``unanswered``: the call failed as a whole, the entry itself was not refused)."""
    entries = [
        {
            "Source": SOURCE,
            "DetailType": row.detail_type,
            "Detail": row.detail,
            "EventBusName": bus.name,
            "Time": row.created_at,
        }
        for row in rows
    ]
    try:
        response = bus.client.put_events(Entries=entries)
    except Exception as exc:
        # The whole call failed (network, throttling, permissions): every row stays pending.
        logger.warning(
            "PutEvents failed; the events stay in the outbox",
            extra={"event_ids": [r.event_id for r in rows], "error": str(exc)},
        )
        error = _error(f"PutEvents failed: {exc}")
        return [], [{"b_id": row.id, "b_error": error, "unanswered": True} for row in rows]
    answers = response.get("Entries") or []
    ok: list[int] = []
    refused: list[dict[str, Any]] = []
    for n, row in enumerate(rows):
        answer = answers[n] if n < len(answers) else {"ErrorCode": "NoAnswer"}
        if answer.get("EventId") and not answer.get("ErrorCode"):
            ok.append(row.id)
            continue
        reason = f"{answer.get('ErrorCode')}: {answer.get('ErrorMessage') or 'no message'}"
        # Named by its bus: on this machine the local bus refuses for its webhook, not EventBridge.
        logger.warning(
            "event refused by the bus; it stays in the outbox",
            extra={"event_id": row.event_id, "bus": bus.name, "error": reason},
        )
        refused.append({"b_id": row.id, "b_error": _error(reason), "unanswered": False})
    return ok, refused


def _error(text: str) -> str | None:
    from charlee_collector.store.runs import stored_error  # the one cleaning of stored error text

    cleaned = stored_error(text)
    return cleaned[:ERROR_LIMIT] if cleaned else None


# --- the dispatcher's tick --------------------------------------------------------------------


def publish_pending(
    engine: Engine,
    bus: EventBus,
    *,
    clock: Callable[[], datetime] = utcnow,
    time_left_ms: Callable[[], int] = lambda: 1 << 30,
    margin_ms: int = 10_000,
    max_rows: int = MAX_PER_TICK,
    flush: bool = False,
) -> PublishSummary:
    """Publish pending rows, oldest first, claim by claim, while time and MAX_PER_TICK allow
    (``flush``: an operator's, rows backing off included).

    Each row is tried once per call (the claims move past it, and a refused row backs off): a
    row EventBridge refuses every time never holds up the rows after it, and ends dead-lettered.
    A claim whose PutEvents calls all failed as a whole ends the call: the bus cannot be reached,
    and spinning cannot help.
    """
    summary = PublishSummary()
    after_id = 0
    while time_left_ms() > margin_ms and summary.published + summary.failed < max_rows:
        with engine.begin() as conn:
            limit = min(CLAIM_SIZE, max_rows - summary.published - summary.failed)
            rows = claim_pending(conn, now=clock(), limit=limit, after_id=after_id, flush=flush)
        if not rows:
            break
        after_id = rows[-1].id
        done = publish_rows(engine, bus, rows, clock=clock)
        summary += done
        if done.unanswered and done.unanswered == done.failed and not done.published:
            break
    return summary


def prune_published(
    engine: Engine,
    *,
    now: datetime,
    retention: timedelta = RETENTION,
    batch: int = PRUNE_BATCH,
    batches: int = PRUNE_BATCHES,
) -> int:
    """Delete rows published (or dead-lettered) longer than ``retention`` ago, oldest first, at
    most batch x batches of each."""
    pruned = 0
    for column in (_t.published_at, _t.dead_lettered_at):
        for _ in range(batches):
            old = select(_t.id).where(column < now - retention).order_by(column).limit(batch)
            with engine.begin() as conn:
                deleted = max(
                    conn.execute(delete(event_outbox).where(_t.id.in_(old.scalar_subquery()))).rowcount, 0
                )
            pruned += deleted
            if deleted < batch:
                break
    return pruned


def oldest_pending_age(conn: Connection, *, now: datetime) -> float:
    """Seconds the oldest unpublished event has waited (0 when none waits)."""
    oldest = conn.execute(select(_t.created_at).where(_PENDING).order_by(_t.id).limit(1)).scalar()
    return max((now - oldest).total_seconds(), 0.0) if oldest else 0.0


def tick(
    engine: Engine,
    bus: EventBus | None,
    *,
    clock: Callable[[], datetime] = utcnow,
    time_left_ms: Callable[[], int] = lambda: 1 << 30,
    margin_ms: int = 10_000,
) -> PublishSummary:
    """The dispatcher's part: publish what is pending, prune, and report the oldest pending age.

    Never raises: a failing outbox must not stop the dispatch it follows (the age metric and its
    alarm tell).
    """
    summary = PublishSummary()
    try:
        if bus is None:
            logger.warning("no event bus configured (EVENT_BUS_NAME); pending events are not published")
        else:
            summary += publish_pending(
                engine, bus, clock=clock, time_left_ms=time_left_ms, margin_ms=margin_ms
            )
        summary += PublishSummary(pruned=prune_published(engine, now=clock()))
        with engine.connect() as conn:
            age = oldest_pending_age(conn, now=clock())
        summary += PublishSummary(oldest_pending_seconds=age)
        metrics.add_metric(name=Metric.OUTBOX_OLDEST_PENDING_AGE, unit="Seconds", value=age)
    except Exception:
        logger.exception("outbox tick failed; pending events wait for the next tick")
    logger.info("outbox tick finished", extra=summary.as_dict())
    return summary
