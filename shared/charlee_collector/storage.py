"""The SQL: claim and release platforms, upsert opportunities, finish a run.

Every function takes an open ``Connection`` and never commits: the caller owns the transaction,
so a collection's upsert and its run record land together or not at all.

The same functions run on PostgreSQL (production) and SQLite (the embedded local default).
SQLite cannot lock rows: there, claims are serialised by a process-wide lock, which keeps them
correct for one process (the local runner) but not across processes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, literal_column, select, update
from sqlalchemy.dialects import postgresql, sqlite

from charlee_collector.models import opportunities, platforms, runs
from charlee_collector.opportunity import Opportunity
from charlee_collector.scheduling import next_after_failure, next_after_success, should_pause
from charlee_collector.settings import SchedulingPolicy

UPSERT_CHUNK = 500
_sqlite_claim_lock = threading.Lock()


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
class UpsertCounts:
    """What one bulk upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one collection attempt, as ``finish_run`` records it."""

    platform_id: int
    trigger: str
    outcome: str  # success | not_modified | rate_limited | failed | skipped
    started_at: datetime
    finished_at: datetime
    message_id: str | None = None
    http_status: int | None = None
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    error: str | None = None
    retry_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class PlatformAfterRun:
    """Where the platform stands after ``finish_run``."""

    next_collection_at: datetime | None
    consecutive_failures: int
    paused: bool
    newly_paused: bool


_PLATFORM_COLUMNS = [platforms.c[f.name] for f in fields(PlatformRecord)]
_DUE = platforms.c.active.is_(True) & platforms.c.auto_collect.is_(True) & platforms.c.paused_at.is_(None)


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
    return _claim(conn, due_platforms_query(now, limit), now)


def claim_platforms(
    conn: Connection,
    *,
    now: datetime,
    user_id: int | None = None,
    platform_ids: Sequence[int] | None = None,
) -> list[Claim]:
    """Claim platforms on demand, due or not: all active ones of a user, or the ids given."""
    if (user_id is None) == (platform_ids is None):
        raise ValueError("give exactly one of user_id or platform_ids")
    query = select(
        platforms.c.id,
        platforms.c.user_id,
        platforms.c.source,
        platforms.c.next_collection_at,
        platforms.c.collection_interval_minutes,
    )
    if user_id is not None:
        query = query.where(platforms.c.user_id == user_id, platforms.c.active.is_(True))
    else:
        query = query.where(platforms.c.id.in_(list(platform_ids or [])))
    return _claim(conn, query.order_by(platforms.c.id).with_for_update(skip_locked=True, of=platforms), now)


def _claim(conn: Connection, query: Select[Any], now: datetime) -> list[Claim]:
    if conn.dialect.name == "sqlite":
        with _sqlite_claim_lock:
            return _claim_rows(conn, query, now)
    return _claim_rows(conn, query, now)


def _claim_rows(conn: Connection, query: Select[Any], now: datetime) -> list[Claim]:
    claims = [
        Claim(
            platform_id=row.id,
            user_id=row.user_id,
            source=row.source,
            previous_next_collection_at=row.next_collection_at,
            claimed_until=now + timedelta(minutes=row.collection_interval_minutes),
        )
        for row in conn.execute(query)
    ]
    if claims:
        conn.execute(
            update(platforms)
            .where(platforms.c.id == bindparam("b_id"))
            .values(next_collection_at=bindparam("b_next"), updated_at=now),
            [{"b_id": c.platform_id, "b_next": c.claimed_until} for c in claims],
        )
    return claims


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
    """The platform with this id, or None when it does not exist (or was deleted)."""
    query = select(*_PLATFORM_COLUMNS).where(platforms.c.id == platform_id)
    if lock:
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return PlatformRecord(**row) if row else None


def _opportunity_row(item: Opportunity, platform_id: int, user_id: int, now: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "platform_id": platform_id,
        "external_id": item.external_id,
        "title": item.title,
        "description": item.description,
        "url": item.url,
        "client_name": item.client_name,
        "client_country": item.client_country,
        "required_skills": list(item.required_skills),
        "category": item.category,
        "client_budget": item.client_budget,
        "client_currency": item.client_currency,
        "contract_type": item.contract_type,
        "posted_at": item.posted_at,
        "collected_at": now,
        "updated_at": now,
        "content_hash": item.content_hash,
        "raw": item.raw,
        "status": "new",
    }


_UPDATED_ON_CHANGE = (
    "user_id",
    "title",
    "description",
    "url",
    "client_name",
    "client_country",
    "required_skills",
    "category",
    "client_budget",
    "client_currency",
    "contract_type",
    "posted_at",
    "updated_at",
    "content_hash",
    "raw",
)


def upsert_opportunities(
    conn: Connection,
    *,
    platform_id: int,
    user_id: int,
    items: Iterable[Opportunity],
    now: datetime,
    chunk_size: int = UPSERT_CHUNK,
) -> UpsertCounts:
    """Insert new opportunities and rewrite changed ones, in bulk; never a duplicate row.

    Items repeating an ``external_id`` within the input collapse to the last one (one statement
    cannot touch a row twice). ``unchanged`` counts items whose content hash matched the stored one.
    """
    unique: dict[str, Opportunity] = {}
    for item in items:
        unique[item.external_id] = item
    rows = [_opportunity_row(item, platform_id, user_id, now) for item in unique.values()]
    inserted = updated = 0
    for start in range(0, len(rows), chunk_size):
        chunk = rows[start : start + chunk_size]
        for was_inserted in _upsert_chunk(conn, chunk, now):
            if was_inserted:
                inserted += 1
            else:
                updated += 1
    return UpsertCounts(inserted=inserted, updated=updated, unchanged=len(rows) - inserted - updated)


def _upsert_chunk(conn: Connection, rows: list[dict[str, Any]], now: datetime) -> list[bool]:
    """One INSERT .. ON CONFLICT DO UPDATE (only when the hash changed); True per inserted row."""
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(opportunities)
        # xmax is 0 on a row version this statement created, so it tells inserts from updates exactly.
        marker = literal_column("(xmax = 0)")
    else:
        stmt = sqlite.insert(opportunities)
        marker = opportunities.c.collected_at
    stmt = stmt.on_conflict_do_update(
        index_elements=[opportunities.c.platform_id, opportunities.c.external_id],
        set_={name: stmt.excluded[name] for name in _UPDATED_ON_CHANGE},
        where=opportunities.c.content_hash != stmt.excluded.content_hash,
    ).returning(marker)
    result = conn.execute(stmt, rows)
    if conn.dialect.name == "postgresql":
        return [bool(value) for value in result.scalars()]
    # SQLite has no xmax: an inserted row still carries this call's collected_at.
    return [value == now for value in result.scalars()]


def finish_run(conn: Connection, run: RunRecord, policy: SchedulingPolicy) -> PlatformAfterRun:
    """Record the run and move the platform on: reset or count failures, back off, pause, resume."""
    conn.execute(
        runs.insert().values(
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
            duration_ms=max(int((run.finished_at - run.started_at).total_seconds() * 1000), 0),
            error=run.error,
        )
    )
    platform = load_platform(conn, run.platform_id, lock=True)
    if platform is None:
        return PlatformAfterRun(None, 0, paused=False, newly_paused=False)
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
            last_collection_count=run.fetched,
            total_projects_collected=platforms.c.total_projects_collected + run.inserted,
            next_collection_at=next_after_success(now, interval, run.retry_at),
            consecutive_failures=0,
            last_error=None,
            paused_at=None,
        )
        if run.etag is not None or run.last_modified is not None or run.outcome == "success":
            values.update(etag=run.etag, last_modified=run.last_modified)
    elif run.outcome == "rate_limited":
        values["next_collection_at"] = next_after_success(now, interval, run.retry_at)
    elif run.outcome == "failed":
        failures += 1
        values.update(
            consecutive_failures=failures,
            last_error=run.error,
            last_error_at=now,
            next_collection_at=next_after_failure(now, interval, failures, policy, run.retry_at),
        )
        if not paused and should_pause(failures, policy):
            paused = newly_paused = True
            values["paused_at"] = now
            values["last_error"] = f"paused after {failures} consecutive failures: {run.error}"
    conn.execute(update(platforms).where(platforms.c.id == run.platform_id).values(**values))
    return PlatformAfterRun(
        values.get("next_collection_at", platform.next_collection_at), failures, paused, newly_paused
    )
