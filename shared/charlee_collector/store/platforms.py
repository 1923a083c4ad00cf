"""Platforms: claim the due ones (or the ones asked for), settle claims once sent, load and lock one.

A claim is a lease: it moves ``next_collection_at`` only ``CLAIM_LEASE`` ahead, and ``settle_claims``
moves a sent platform on to its interval (or releases an unsent one). A claim nobody settles (the
claim's COMMIT reply lost, the database gone between the send and the settling) expires on its
own: the platform is due again at the next tick, not one interval later.

Every function takes an open ``Connection`` and never commits: the caller owns the transaction.
Lock order, so concurrent collections of one platform queue instead of deadlocking: the
platform's row first (``lock_platform``), then its opportunities in ``external_id`` order, then
the run row. An interval read from a row is clamped as ``core.scheduling`` clamps it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    Select,
    Text,
    and_,
    any_,
    bindparam,
    cast,
    func,
    literal,
    select,
    type_coerce,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from charlee_collector.core.limits import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES
from charlee_collector.core.scheduling import due_before
from charlee_collector.store.tables import UTCDateTime, platforms, user_profiles

# How long a claim holds a platform before its send is confirmed: far above one dispatcher
# invocation (its Lambda timeout is 60 s), so no live dispatcher's claim is taken twice, and
# below the schedule's period (15 minutes), so a lost claim is due again at the next tick.
CLAIM_LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class Claim:
    """A platform the dispatcher took: its next collection is ``lease_until`` until the message is
    sent (``settle_claims``), then ``claimed_until``, one interval ahead."""

    platform_id: int
    user_id: int
    source: str
    previous_next_collection_at: datetime | None
    claimed_until: datetime
    lease_until: datetime


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
        .where(_DUE & (next_at.is_(None) | (next_at <= due_before(now))))
        .order_by(next_at.asc().nulls_first(), platforms.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=platforms)
    )


def claim_due_platforms(conn: Connection, *, now: datetime, limit: int) -> list[Claim]:
    """Claim up to ``limit`` due platforms, each leased (``CLAIM_LEASE``) until its send is settled."""
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
    """One statement: lock the rows (skipping those others hold) and lease them, returning both.

    The lease is ``CLAIM_LEASE``, or the interval when that is shorter. RETURNING keeps no order:
    the claims are sorted by ``order``, as the query's ORDER BY did.
    """
    locked = query.cte("claimed")
    # Clamped as scheduling.bounded_interval clamps: a row out of range must not fail the claim.
    minutes = func.least(
        func.greatest(locked.c.collection_interval_minutes, MIN_INTERVAL_MINUTES), MAX_INTERVAL_MINUTES
    )
    lease_minutes = func.least(minutes, int(CLAIM_LEASE.total_seconds() // 60))
    start = literal(now, UTCDateTime)
    moved = type_coerce(start + func.make_interval(0, 0, 0, 0, 0, minutes), UTCDateTime)
    leased = type_coerce(start + func.make_interval(0, 0, 0, 0, 0, lease_minutes), UTCDateTime)
    stmt = (
        update(platforms)
        .where(platforms.c.id == locked.c.id)
        .values(next_collection_at=leased, updated_at=now)
        .returning(
            platforms.c.id,
            platforms.c.user_id,
            platforms.c.source,
            locked.c.next_collection_at.label("previous"),
            moved.label("moved"),
            platforms.c.next_collection_at,
        )
    )
    claims = [
        Claim(row.id, row.user_id, row.source, row.previous, row.moved, row.next_collection_at)
        for row in conn.execute(stmt)
    ]
    return sorted(claims, key=order)


def _due_order(claim: Claim) -> tuple[bool, datetime | None, int]:
    """The claim query's ORDER BY: never collected first, then the longest overdue, then id."""
    previous = claim.previous_next_collection_at
    return (previous is not None, previous, claim.platform_id)


def settle_claims(conn: Connection, *, sent: Iterable[Claim] = (), unsent: Iterable[Claim] = ()) -> int:
    """Move each sent claim's platform one interval ahead (``claimed_until``), and give unsent
    ones back (their previous ``next_collection_at``), so the next tick picks them up; the rows
    settled. Only a claim still leased is touched: a platform collected (or claimed again)
    meanwhile has another ``next_collection_at`` and is left alone.
    """
    params = [{"b_id": c.platform_id, "b_lease": c.lease_until, "b_next": c.claimed_until} for c in sent] + [
        {"b_id": c.platform_id, "b_lease": c.lease_until, "b_next": c.previous_next_collection_at}
        for c in unsent
    ]
    if not params:
        return 0
    result = conn.execute(
        update(platforms)
        .where(platforms.c.id == bindparam("b_id"), platforms.c.next_collection_at == bindparam("b_lease"))
        .values(next_collection_at=bindparam("b_next")),
        params,
    )
    return max(result.rowcount, 0)


def release_claims(conn: Connection, claims: Iterable[Claim]) -> int:
    """Give back claims whose message was not sent (``settle_claims`` with nothing sent)."""
    return settle_claims(conn, unsent=claims)


def load_platform(conn: Connection, platform_id: int, *, lock: bool = False) -> PlatformRecord | None:
    """The platform with this id, or None when it does not exist (or was deleted).

    ``lock`` takes the row lock every writer of the platform's collections takes first (see
    ``lock_platform``).
    """
    row = conn.execute(_LOCK_PLATFORM if lock else _LOAD_PLATFORM, {"platform_id": platform_id}).first()
    return PlatformRecord(*row) if row else None


# Built once: a statement object keeps its cache key, which SQLAlchemy would otherwise work out
# again from the sixteen columns on every collection (twice per run). The table is read as "p":
# pg8000 scans every statement's text in Python (~0.3 us a character, on every call), and
# "freelance_platforms." before each column was half of it.
_P = platforms.alias("p")
_LOAD_PLATFORM = select(*(_P.c[column.name] for column in _PLATFORM_COLUMNS)).where(
    _P.c.id == bindparam("platform_id")
)


# A collection's first read: the platform and its user's scoring profile (JSON text, NULL when
# none) in one round trip.
_LOAD_PLATFORM_AND_PROFILE = _LOAD_PLATFORM.add_columns(
    select(cast(user_profiles.c.profile, Text))
    .where(user_profiles.c.user_id == _P.c.user_id)
    .scalar_subquery()
)


def load_platform_and_profile(conn: Connection, platform_id: int) -> tuple[PlatformRecord | None, str | None]:
    """The platform with this id (None when it does not exist) and its user's stored profile as
    JSON text (None without one)."""
    row = conn.execute(_LOAD_PLATFORM_AND_PROFILE, {"platform_id": platform_id}).first()
    return (PlatformRecord(*row[:-1]), row[-1]) if row else (None, None)


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
