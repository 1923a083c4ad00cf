"""The SQL: claim and release platforms, upsert opportunities, finish a run.

Every function takes an open ``Connection`` and never commits: the caller owns the transaction,
so a collection's upsert and its run record land together or not at all.

Lock order, so concurrent collections of one platform queue instead of deadlocking: the
platform's row first (``lock_platform``, taken by ``upsert_opportunities`` and ``finish_run``),
then its opportunities in ``external_id`` order, then the run row. Everything stored from a run
passes ``stored_error`` (text) or ``_validator`` (ETag, Last-Modified), and an interval read from
a row is clamped as ``scheduling.bounded_interval`` clamps it, so one row cannot fail the rest.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    and_,
    any_,
    bindparam,
    func,
    literal,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from charlee_collector.models import (
    MAX_INTERVAL_MINUTES,
    MIN_INTERVAL_MINUTES,
    UTCDateTime,
    platforms,
    runs,
)
from charlee_collector.opportunity import HASHED_FIELDS, HASHED_WHEN_SET, Opportunity
from charlee_collector.scheduling import (
    next_after_failure,
    next_after_success,
    should_pause,
)
from charlee_collector.settings import SchedulingPolicy

UPSERT_CHUNK = 1000


@dataclass(frozen=True)
class Claim:
    """A platform the dispatcher took: its next collection was moved to ``claimed_until``."""

    platform_id: int
    user_id: int
    source: str
    previous_next_collection_at: datetime | None
    claimed_until: datetime


@dataclass(frozen=True)
class PlatformRecord:
    """One ``freelance_platforms`` row as the collector reads it."""

    id: int
    user_id: int
    name: str
    source: str
    config: dict[str, Any]
    credentials_secret: str | None
    active: bool
    auto_collect: bool
    collection_interval_minutes: int
    last_collection_at: datetime | None
    next_collection_at: datetime | None
    etag: str | None
    last_modified: str | None
    consecutive_failures: int
    last_error: str | None
    paused_at: datetime | None


@dataclass(frozen=True)
class WrittenRow:
    """One row an upsert inserted (``new``) or rewrote, with the item it now holds."""

    id: int
    item: Opportunity
    new: bool


@dataclass(frozen=True)
class UpsertCounts:
    """What one bulk upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # The rows written, in statement order, for the OpportunitiesCollected event (events.py):
    # the items are what the rows hold, so the event needs no reading back.
    written: tuple[WrittenRow, ...] = field(default=(), compare=False, repr=False)

    @property
    def inserted_ids(self) -> tuple[int, ...]:
        return tuple(row.id for row in self.written if row.new)

    @property
    def updated_ids(self) -> tuple[int, ...]:
        return tuple(row.id for row in self.written if not row.new)


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one collection attempt, as ``finish_run`` records it."""

    platform_id: int
    trigger: str
    outcome: str  # success | not_modified | rate_limited | deferred | failed | skipped
    started_at: datetime
    finished_at: datetime
    message_id: str | None = None
    http_status: int | None = None
    fetched: int = 0  # items the platform served (de-duplicated), before the filters
    inserted: int = 0
    updated: int = 0
    filtered: int = 0  # of ``fetched``, the items the platform's filters dropped
    error: str | None = None
    retry_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    attempt: int = 1  # SQS's receive count: redeliveries of one message are one failure, not five
    shared_fetch: bool | None = None  # whether a body came from the shared fetch cache


@dataclass(frozen=True)
class PlatformAfterRun:
    """Where the platform stands after ``finish_run``."""

    next_collection_at: datetime | None
    consecutive_failures: int
    paused: bool
    newly_paused: bool
    # The collection_runs row written (None: the platform was deleted); an id, not a state.
    run_id: int | None = field(default=None, compare=False)


_PLATFORM_COLUMNS = [platforms.c[f.name] for f in fields(PlatformRecord)]
# Bare boolean columns, written as the partial index's predicate is, so the planner can prove
# that index applies (it does not infer "active" from "active IS TRUE").
_DUE = and_(platforms.c.active, platforms.c.auto_collect, platforms.c.paused_at.is_(None))


def due_platforms_query(now: datetime, limit: int) -> Select[Any]:
    """The claim query: due platforms, oldest first, locked and skipping rows others hold."""
    next_at = platforms.c.next_collection_at
    return (
        select(
            platforms.c.id,
            platforms.c.user_id,
            platforms.c.source,
            next_at,
            platforms.c.collection_interval_minutes,
        )
        .where(_DUE & (next_at.is_(None) | (next_at <= now)))
        .order_by(next_at.asc().nulls_first(), platforms.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=platforms)
    )


def claim_due_platforms(conn: Connection, *, now: datetime, limit: int) -> list[Claim]:
    """Claim up to ``limit`` due platforms, moving each one's next collection one interval ahead."""
    return _claim(conn, due_platforms_query(now, limit), now, order=_due_order)


def claim_platforms(
    conn: Connection,
    *,
    now: datetime,
    user_id: int | None = None,
    platform_ids: Sequence[int] | None = None,
) -> list[Claim]:
    """Claim platforms on demand, due or not: all active ones of a user, or the ids given.

    Any number of ids is fine, in one transaction. The claims come back sorted by id, each
    platform once.
    """
    if (user_id is None) == (platform_ids is None):
        raise ValueError("give exactly one of user_id or platform_ids")
    if user_id is not None:
        return _claim_on_demand(conn, now, platforms.c.user_id == user_id, platforms.c.active.is_(True))
    ids = sorted(set(platform_ids or ()))
    if not ids:
        return []
    # The whole list is one array parameter: an IN list binds one parameter per id, and pg8000
    # counts parameters in 16 bits (70,000 ids raised ``struct.error``).
    return _claim_on_demand(
        conn, now, platforms.c.id == any_(bindparam("claim_ids", ids, type_=ARRAY(Integer)))
    )


def _claim_on_demand(conn: Connection, now: datetime, *where: ColumnElement[bool]) -> list[Claim]:
    """Claim the platforms ``where`` selects, due or not, sorted by id."""
    query = select(
        platforms.c.id,
        platforms.c.user_id,
        platforms.c.source,
        platforms.c.next_collection_at,
        platforms.c.collection_interval_minutes,
    ).where(*where)
    locked = query.order_by(platforms.c.id).with_for_update(skip_locked=True, of=platforms)
    return _claim(conn, locked, now, order=lambda c: c.platform_id)


def _claim(
    conn: Connection, query: Select[Any], now: datetime, *, order: Callable[[Claim], Any]
) -> list[Claim]:
    """One statement: lock the rows (skipping those others hold) and move them, returning both.

    RETURNING keeps no order: the claims are sorted by ``order``, as the query's ORDER BY did.
    """
    locked = query.cte("claimed")
    # Clamped as scheduling.bounded_interval clamps: a row out of range must not fail the claim.
    minutes = func.least(
        func.greatest(locked.c.collection_interval_minutes, MIN_INTERVAL_MINUTES), MAX_INTERVAL_MINUTES
    )
    interval = func.make_interval(0, 0, 0, 0, 0, minutes)
    moved = type_coerce(literal(now, UTCDateTime) + interval, UTCDateTime)
    stmt = (
        update(platforms)
        .where(platforms.c.id == locked.c.id)
        .values(next_collection_at=moved, updated_at=now)
        .returning(
            platforms.c.id,
            platforms.c.user_id,
            platforms.c.source,
            locked.c.next_collection_at.label("previous"),
            platforms.c.next_collection_at,
        )
    )
    claims = [
        Claim(row.id, row.user_id, row.source, row.previous, row.next_collection_at)
        for row in conn.execute(stmt)
    ]
    return sorted(claims, key=order)


def _due_order(claim: Claim) -> tuple[bool, datetime | None, int]:
    """The claim query's ORDER BY: never collected first, then the longest overdue, then id."""
    previous = claim.previous_next_collection_at
    return (previous is not None, previous, claim.platform_id)


def release_claims(conn: Connection, claims: Iterable[Claim]) -> int:
    """Give back claims whose message was not sent, so the next tick picks them up.

    A claim is released only while it is still ours: a platform collected (or claimed again) in
    the meantime has another ``next_collection_at`` and is left alone.
    """
    params = [
        {"b_id": c.platform_id, "b_claimed": c.claimed_until, "b_prev": c.previous_next_collection_at}
        for c in claims
    ]
    if not params:
        return 0
    result = conn.execute(
        update(platforms)
        .where(platforms.c.id == bindparam("b_id"), platforms.c.next_collection_at == bindparam("b_claimed"))
        .values(next_collection_at=bindparam("b_prev")),
        params,
    )
    return max(result.rowcount, 0)


def load_platform(conn: Connection, platform_id: int, *, lock: bool = False) -> PlatformRecord | None:
    """The platform with this id, or None when it does not exist (or was deleted).

    ``lock`` takes the row lock every writer of the platform's collections takes first (see
    ``lock_platform``).
    """
    row = conn.execute(_LOCK_PLATFORM if lock else _LOAD_PLATFORM, {"platform_id": platform_id}).first()
    return PlatformRecord(*row) if row else None


# Built once: a statement object keeps its cache key, which SQLAlchemy would otherwise work out
# again from the sixteen columns on every collection (twice per run).
_LOAD_PLATFORM = select(*_PLATFORM_COLUMNS).where(platforms.c.id == bindparam("platform_id"))
# NO KEY UPDATE: the lock finish_run's UPDATE needs anyway, which does not block the KEY SHARE
# that inserting a row referencing the platform takes.
_LOCK_PLATFORM = _LOAD_PLATFORM.with_for_update(key_share=True)


def lock_platform(conn: Connection, platform_id: int) -> PlatformRecord | None:
    """Lock the platform's row for this transaction, before anything else of its collection.

    Concurrent deliveries of one message each upsert the platform's opportunities and record a
    run. Without this lock first they deadlock: the rows they insert take KEY SHARE on the
    platform row (the foreign key) before finish_run wants to update it, and two inserts in
    different orders wait for each other. Taken first, it makes them queue instead.
    """
    return load_platform(conn, platform_id, lock=True)


# The columns an upsert writes from the item; the rest (ids, clock, status) come from the call.
_ITEM_COLUMNS = ("external_id", *HASHED_FIELDS, *HASHED_WHEN_SET, "content_hash", "raw")
# Rewritten when the content hash changed; status (the reader's workflow) and collected_at stay.
_UPDATED_ON_CHANGE = (*(c for c in _ITEM_COLUMNS if c != "external_id"), "user_id", "updated_at")


def _item_values(item: Opportunity) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in _ITEM_COLUMNS if name != "content_hash"}
    values["required_skills"] = list(item.required_skills)
    values["content_hash"] = item.content_hash  # a property: computed once here
    return values


@dataclass(frozen=True)
class PreparedItems:
    """Items made ready for ``upsert_opportunities`` before its transaction (Python work only):
    one per ``external_id`` (the last wins), their column values and content hashes in
    ``external_id`` order, in chunks, with each chunk's JSON text (the statement's one parameter)."""

    unique: dict[str, Opportunity]
    chunks: tuple[list[dict[str, Any]], ...]
    json_chunks: tuple[str, ...]


def prepare_items(items: Iterable[Opportunity], *, chunk_size: int = UPSERT_CHUNK) -> PreparedItems:
    """``items`` as ``upsert_opportunities`` writes them (see ``PreparedItems``)."""
    unique: dict[str, Opportunity] = {}
    for item in items:
        unique[item.external_id] = item
    # Rows in one order whatever order the platform served them in, so two writers of the same
    # rows (chunk by chunk, and row by row inside a chunk) never wait for each other in a cycle.
    rows = [_item_values(unique[external_id]) for external_id in sorted(unique)]
    chunks = tuple(rows[start : start + chunk_size] for start in range(0, len(rows), chunk_size))
    return PreparedItems(unique, chunks, tuple(_rows_json(chunk) for chunk in chunks))


def upsert_opportunities(
    conn: Connection,
    *,
    platform_id: int,
    user_id: int,
    items: Iterable[Opportunity] | PreparedItems,
    now: datetime,
    chunk_size: int = UPSERT_CHUNK,
    platform_locked: bool = False,
) -> UpsertCounts:
    """Insert new opportunities and rewrite changed ones, in bulk; never a duplicate row.

    The platform's row is locked first (``lock_platform``; ``platform_locked`` says this
    transaction already took that lock) and the rows are written in ``external_id`` order. Items
    repeating an ``external_id`` within the input collapse to the last one (one statement cannot
    touch a row twice). ``unchanged`` counts items whose content hash matched the stored one.
    ``items`` may come prepared (``prepare_items``): the collector prepares them outside the
    transaction, in its turn at the CPU (``cpu_turns.py``).
    """
    prepared = items if isinstance(items, PreparedItems) else prepare_items(items, chunk_size=chunk_size)
    if not platform_locked:
        lock_platform(conn, platform_id)
    written: list[WrittenRow] = []
    for payload in prepared.json_chunks:
        chunk = _upsert_chunk(conn, payload, platform_id, user_id, now)
        written += (
            WrittenRow(row_id, prepared.unique[external_id], new) for row_id, external_id, new in chunk
        )
    inserted = sum(1 for row in written if row.new)
    rows_count = sum(len(rows) for rows in prepared.chunks)
    return UpsertCounts(
        inserted=inserted,
        updated=len(written) - inserted,
        unchanged=rows_count - len(written),
        written=tuple(written),
    )


_RECORD_TYPES = {
    "required_skills": "jsonb",
    "client_budget": "numeric",
    "posted_at": "timestamptz",
    "raw": "jsonb",
}
# The whole chunk travels as ONE json parameter, unpacked by json_to_recordset. The
# statement text stays ~1.5 KB whatever the row count; a multi-row VALUES of 19 placeholders per
# row spent most of its time in the driver rewriting parameter markers. ORDER BY keeps the rows
# in the order upsert_opportunities sorted them (byte order is code point order, as Python's).
# The rows written come back as one JSON text (decoded in C), not a row each (decoded by pg8000
# in Python, column by column: ~10 us a row).
_UPSERT = text(
    f"""
    WITH written AS (
    INSERT INTO freelance_opportunities (user_id, platform_id, collected_at, updated_at, status, {", ".join(_ITEM_COLUMNS)})
    SELECT :user_id, :platform_id, :now, :now, 'new', {", ".join(f"r.{c}" for c in _ITEM_COLUMNS)}
    FROM json_to_recordset(CAST(:rows AS json))
      AS r({", ".join(f"{c} {_RECORD_TYPES.get(c, 'text')}" for c in _ITEM_COLUMNS)})
    ORDER BY r.external_id COLLATE "C"
    ON CONFLICT (platform_id, external_id) DO UPDATE
    SET {", ".join(f"{c} = excluded.{c}" for c in _UPDATED_ON_CHANGE)}
    WHERE freelance_opportunities.content_hash <> excluded.content_hash
    RETURNING id, external_id, (xmax = 0) AS new
    )
    SELECT CAST(json_agg(json_build_array(id, external_id, new)) AS text) FROM written
    """
).bindparams(bindparam("now", type_=UTCDateTime))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # numeric reads the string exactly: no float on the way
    raise TypeError(f"cannot encode {type(value).__name__} in an opportunity")


# (id, external_id, inserted) of each row a chunk's statement wrote.
_Written = list[tuple[int, str, bool]]


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_value, ensure_ascii=False)


def _upsert_chunk(conn: Connection, payload: str, platform_id: int, user_id: int, now: datetime) -> _Written:
    written = conn.execute(
        _UPSERT, {"user_id": user_id, "platform_id": platform_id, "now": now, "rows": payload}
    ).scalar_one()
    # xmax is 0 on a row version this statement created, so it tells inserts from updates exactly.
    return [(row_id, external_id, new) for row_id, external_id, new in json.loads(written or "[]")]


# Errors quote what providers wrote; the history keeps the start of a long one.
STORED_ERROR_LIMIT = 2_000


def _clean_text(value: str | None) -> str | None:
    # Imported here: the dispatcher, which never records a run, keeps lxml out of its cold start.
    from charlee_collector.normalize import clean_text

    return clean_text(value)


def stored_error(error: str | None) -> str | None:
    """An error as it can be stored: cleaned like item text (no NUL, no lone surrogate), capped."""
    text = _clean_text(error)
    if text is None or len(text) <= STORED_ERROR_LIMIT:
        return text
    return text[: STORED_ERROR_LIMIT - 1] + "…"


# SQLSTATE classes of a refused value: 22 data exception, 23 integrity constraint violation.
_REFUSED_CLASSES = ("22", "23")


def refused_by_database(exc: BaseException) -> bool:
    """True when the database (or its driver) refused a value written: writing the same values
    again cannot help. False for everything else (unavailable, deadlock, timeout: worth retrying)."""
    if isinstance(exc, UnicodeEncodeError):  # text the driver cannot even send
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, IntegrityError | DataError):
        return True
    # pg8000 reports most server errors as ProgrammingError, carrying the SQLSTATE in its fields.
    fields = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    state = fields.get("C") if isinstance(fields, dict) else None
    return isinstance(state, str) and state[:2] in _REFUSED_CLASSES


def database_reason(exc: BaseException) -> str:
    """The database's own one-line reason for ``exc`` (pg8000's message field, not the whole row)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    fields = orig.args[0] if orig is not None and orig.args else None
    if isinstance(fields, dict) and fields.get("M"):
        return str(fields["M"])
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _validator(value: str | None, column: str) -> str | None:
    """A validator stored as it came, or None when it cannot be: a cut or cleaned ETag would be a
    wrong If-None-Match, so one longer than its column or holding what the database refuses
    (NUL, a lone surrogate) is dropped."""
    if value is None:
        return None
    limit = getattr(platforms.c[column].type, "length", None)
    fits = limit is None or len(value) <= limit
    return value if fits and _clean_text(value) == value else None


# Built once, the values passed as parameters: building a statement's VALUES or SET clause from
# Python values (and its cache key from those) cost more CPU than running it, ~0.5 ms per run.
_RUN_INSERT = runs.insert()
_PLATFORM_AFTER_RUN = update(platforms).where(platforms.c.id == bindparam("b_platform_id"))
_PLATFORM_AFTER_SUCCESS = _PLATFORM_AFTER_RUN.values(
    total_projects_collected=platforms.c.total_projects_collected + bindparam("b_inserted", type_=Integer)
)


def finish_run(
    conn: Connection, run: RunRecord, policy: SchedulingPolicy, *, locked: PlatformRecord | None = None
) -> PlatformAfterRun:
    """Record the run and move the platform on: reset or count failures, back off, pause, resume.

    The platform's row is locked first (``lock_platform``; ``locked`` is the row as this
    transaction already locked it, which saves reading it again), and every text stored from the
    run passes ``stored_error`` or ``_validator``, so recording a run fails only when the database does.
    """
    platform = locked if locked is not None else lock_platform(conn, run.platform_id)
    if platform is None:  # deleted meanwhile: its runs went with it
        return PlatformAfterRun(None, 0, paused=False, newly_paused=False)
    error = stored_error(run.error)
    recorded = conn.execute(
        _RUN_INSERT,
        dict(
            platform_id=run.platform_id,
            trigger=run.trigger,
            message_id=run.message_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            outcome=run.outcome,
            http_status=run.http_status,
            fetched=run.fetched,
            inserted=run.inserted,
            updated=run.updated,
            filtered=run.filtered,
            duration_ms=max(int((run.finished_at - run.started_at).total_seconds() * 1000), 0),
            error=error,
            shared_fetch=run.shared_fetch,
        ),
    )
    now = run.finished_at
    interval = platform.collection_interval_minutes
    values: dict[str, Any] = {"updated_at": now}
    failures = platform.consecutive_failures
    paused = platform.paused_at is not None
    newly_paused = False
    if run.outcome in ("success", "not_modified"):
        failures = 0
        paused = False
        values.update(
            last_collection_at=now,
            last_collection_count=run.fetched - run.filtered,  # what the platform's filters kept
            b_inserted=run.inserted,  # added to total_projects_collected (_PLATFORM_AFTER_SUCCESS)
            next_collection_at=next_after_success(now, interval, run.retry_at),
            consecutive_failures=0,
            last_error=None,
            paused_at=None,
        )
        if run.etag is not None or run.last_modified is not None or run.outcome == "success":
            values.update(
                etag=_validator(run.etag, "etag"),
                last_modified=_validator(run.last_modified, "last_modified"),
            )
    elif run.outcome == "rate_limited":
        values["next_collection_at"] = next_after_success(now, interval, run.retry_at)
    elif run.outcome == "deferred" and run.retry_at is not None:
        # No slot on the host yet (politeness.py): due again when it opens; not a failure.
        values["next_collection_at"] = run.retry_at
    elif run.outcome == "failed" and run.attempt > 1:
        # SQS is retrying a message whose first attempt already counted: note the error only.
        values.update(last_error=error, last_error_at=now)
    elif run.outcome == "failed":
        failures += 1
        values.update(
            consecutive_failures=failures,
            last_error=error,
            last_error_at=now,
            next_collection_at=next_after_failure(now, interval, failures, policy, run.retry_at),
        )
        if not paused and should_pause(failures, policy):
            paused = newly_paused = True
            values["paused_at"] = now
            values["last_error"] = stored_error(f"paused after {failures} consecutive failures: {error}")
    after = _PLATFORM_AFTER_SUCCESS if "b_inserted" in values else _PLATFORM_AFTER_RUN
    conn.execute(after, {**values, "b_platform_id": run.platform_id})
    return PlatformAfterRun(
        values.get("next_collection_at", platform.next_collection_at),
        failures,
        paused,
        newly_paused,
        run_id=int(recorded.inserted_primary_key[0]) if recorded.inserted_primary_key else None,
    )
