"""Fleet-wide per-host limits: concurrent requests, spacing between requests, Retry-After holds.

Every upstream request takes a slot on its host (``acquire``) and gives it back (``release``); the
state is in the database (``fetch_hosts``, ``fetch_host_leases``), so limits hold across instances.
A slot needs no Retry-After ``hold`` on the host (else ``RateLimited``, no request), the spacing
passed and a live lease free. ``acquire`` waits only while a slot opens within its wait, else raises
``FetchDeferred`` with when it should open: it never sleeps away a Lambda's time. Limits: an
operator's override (``set_override``), else ``KNOWN_HOSTS``, else ``GLOBAL_DEFAULT``.
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Row,
    Select,
    String,
    Table,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql

from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import FetchDeferred, RateLimited
from charlee_collector.store.tables import UTCDateTime, fetch_host_leases, fetch_hosts


@dataclass(frozen=True)
class HostLimit:
    """How hard one host may be asked, and where the figures come from."""

    max_concurrent: int
    min_spacing: timedelta
    source: str


GLOBAL_DEFAULT = HostLimit(
    2, timedelta(seconds=1), "ours, for hosts that publish no limit: 2 at once, 1 request a second"
)
# From each API's published terms. Where the terms ask for "a few times a day" (a daily count,
# not a rate), the freshness window (SHARED_FETCH_WINDOW_SECONDS) keeps each distinct request to
# its platforms' interval, and the limit below spaces the distinct requests themselves.
KNOWN_HOSTS: dict[str, HostLimit] = {
    "remotive.com": HostLimit(
        1,
        timedelta(seconds=10),
        "Remotive's notice in every API response (fixtures/real/remotive): 'max. 4 times a day', "
        "'excessive requests will be blocked'",
    ),
    "jobicy.com": HostLimit(
        1,
        timedelta(seconds=10),
        "Jobicy's friendlyNotice in every API response (fixtures/real/jobicy): 'a few times per "
        "day', 'excessive requests may result in restricted access'",
    ),
    "remoteok.com": HostLimit(
        1,
        timedelta(seconds=5),
        "Remote OK's API terms (the legal notice in fixtures/real/remoteok) give no rate: one at a time",
    ),
    "hn.algolia.com": HostLimit(
        2,
        timedelta(milliseconds=500),
        "HN Search API documentation (hn.algolia.com/api): 10,000 requests per hour per IP; "
        "0.5 s spacing is 7,200 an hour",
    ),
    "himalayas.app": HostLimit(
        1, timedelta(seconds=2), "no published rate found for Himalayas: one at a time"
    ),
    "www.arbeitnow.com": HostLimit(
        1, timedelta(seconds=2), "no published rate found for Arbeitnow: one at a time"
    ),
    "www.workingnomads.com": HostLimit(
        1, timedelta(seconds=2), "no published rate found for Working Nomads: one at a time"
    ),
    "landing.jobs": HostLimit(
        1, timedelta(seconds=2), "no published rate found for Landing.jobs: one at a time"
    ),
}

# Servers on this machine are our own (tests, benches, a local mirror): no default limit, only
# an operator's override and Retry-After holds.
LOOPBACK = HostLimit(1_000_000, timedelta(0), "a server on this machine (loopback): no default limit")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

POLL_SECONDS = (0.02, 0.05, 0.1, 0.25)  # the pauses between tries while a slot opens soon


@dataclass(frozen=True)
class SlotAnswer:
    """One try at a slot: granted (``lease_id``), or when to try again and why."""

    lease_id: int | None = None
    spaced_until: datetime | None = None  # the next_request_at this grant set
    previous_next: datetime | None = None  # the one it replaced (given back by ``release``)
    retry_at: datetime | None = None
    held: bool = False  # retry_at is a Retry-After hold
    reason: str = ""


def limit_for(conn: Connection, host: str) -> HostLimit:
    """The limit that applies to ``host``: the operator's override, the known one, the default."""
    row = conn.execute(
        select(fetch_hosts.c.max_concurrent, fetch_hosts.c.min_spacing_ms).where(fetch_hosts.c.host == host)
    ).first()
    return _limit(host, row.max_concurrent if row else None, row.min_spacing_ms if row else None)


def _limit(host: str, max_concurrent: int | None, min_spacing_ms: int | None) -> HostLimit:
    name = host.lower()
    base = LOOPBACK if name in LOOPBACK_HOSTS else KNOWN_HOSTS.get(name, GLOBAL_DEFAULT)
    if max_concurrent is None and min_spacing_ms is None:
        return base
    return HostLimit(
        max_concurrent if max_concurrent is not None else base.max_concurrent,
        timedelta(milliseconds=min_spacing_ms) if min_spacing_ms is not None else base.min_spacing,
        "operator override (fetch_hosts)",
    )


def lock_or_insert(
    conn: Connection, table: Table, locked: Select[Any], key: dict[str, Any], new_row: dict[str, Any]
) -> tuple[Row[Any], bool]:
    """The row ``locked`` selects (its bind values in ``key``), locked for this transaction; when
    there is none, ``new_row`` inserted (so locked too) and returned, with True for inserted.

    The existing row, the common case, costs one statement. On a conflict (another transaction
    inserted the row first; the insert waited for its commit) that row is read.
    """
    row = conn.execute(locked, key).first()
    if row is not None:
        return row, False
    inserted = conn.execute(_insert_returning(table, locked, tuple(new_row)), new_row)
    row = inserted.first()
    if row is not None:
        return row, True
    return conn.execute(locked, key).one(), False


@functools.cache
def _insert_returning(table: Table, locked: Select[Any], columns: tuple[str, ...]) -> Any:
    """INSERT of ``columns`` unless the row exists, returning what ``locked`` selects; built once."""
    values: dict[str, Any] = {name: bindparam(name) for name in columns}
    return (
        postgresql.insert(table).values(values).on_conflict_do_nothing().returning(*locked.selected_columns)
    )


_LOCK_HOST = select(fetch_hosts).where(fetch_hosts.c.host == bindparam("host")).with_for_update()


def _lock_host(conn: Connection, host: str, now: datetime) -> Row[Any]:
    """The host's row, created if new and locked for this transaction."""
    return lock_or_insert(conn, fetch_hosts, _LOCK_HOST, {"host": host}, {"host": host, "updated_at": now})[0]


_LEASES = fetch_host_leases.c
# A lease, inserted only while fewer than ``max_concurrent`` live ones exist: the count and the
# insert are one statement, under the host row's lock (``_lock_host``). Built once.
_INSERT_LEASE = (
    insert(fetch_host_leases)
    .from_select(
        ["host", "owner", "expires_at"],
        select(
            bindparam("host", type_=String),
            bindparam("owner", type_=String),
            bindparam("expires_at", type_=UTCDateTime),
        ).where(
            select(func.count())
            .where(_LEASES.host == bindparam("host", type_=String), _LEASES.expires_at > bindparam("now"))
            .scalar_subquery()
            < bindparam("max_concurrent", type_=Integer)
        ),
    )
    .returning(_LEASES.id)
)
_LIVE_LEASES = select(func.count(), func.min(_LEASES.expires_at)).where(
    _LEASES.host == bindparam("host"), _LEASES.expires_at > bindparam("now")
)
_SPACE_HOST = (
    update(fetch_hosts)
    .where(fetch_hosts.c.host == bindparam("b_host"))
    .values(next_request_at=bindparam("b_next"), updated_at=bindparam("b_now"))
)
# The lease given back, and any of this host's that expired (collectors that died mid-request).
_RELEASE = delete(fetch_host_leases).where(
    or_(
        _LEASES.id == bindparam("lease_id"),
        and_(_LEASES.host == bindparam("host"), _LEASES.expires_at <= bindparam("now")),
    )
)
_GIVE_SPACING_BACK = (
    update(fetch_hosts)
    .where(fetch_hosts.c.host == bindparam("b_host"), fetch_hosts.c.next_request_at == bindparam("b_spaced"))
    .values(next_request_at=bindparam("b_previous"))
)


def try_acquire(
    conn: Connection, host: str, owner: str, *, now: datetime, lease_for: timedelta
) -> SlotAnswer:
    """One try, in the caller's transaction: a lease on a slot of ``host``, or when to retry."""
    row = _lock_host(conn, host, now)
    # A loopback server nobody set limits for is ours (tests, benches: many unrelated routes on
    # one server): not even a Retry-After holds it.
    unmanaged = host.lower() in LOOPBACK_HOSTS and row.max_concurrent is None and row.min_spacing_ms is None
    if not unmanaged and row.retry_after_until is not None and row.retry_after_until > now:
        return SlotAnswer(retry_at=row.retry_after_until, held=True, reason="held by a Retry-After")
    limit = _limit(host, row.max_concurrent, row.min_spacing_ms)
    if row.next_request_at is not None and row.next_request_at > now:
        return SlotAnswer(
            retry_at=row.next_request_at, reason=f"spacing {limit.min_spacing.total_seconds():g} s"
        )
    lease_id = conn.execute(
        _INSERT_LEASE,
        {
            "host": host,
            "owner": owner,
            "expires_at": now + lease_for,
            "now": now,
            "max_concurrent": limit.max_concurrent,
        },
    ).scalar()
    if lease_id is None:
        live, first_free = conn.execute(_LIVE_LEASES, {"host": host, "now": now}).one()
        return SlotAnswer(retry_at=first_free, reason=f"{live} of {limit.max_concurrent} slots in use")
    spaced_until = now + limit.min_spacing
    if limit.min_spacing > timedelta(0):
        conn.execute(_SPACE_HOST, {"b_host": host, "b_next": spaced_until, "b_now": now})
    else:
        spaced_until = row.next_request_at  # nothing to give back
    return SlotAnswer(lease_id=lease_id, spaced_until=spaced_until, previous_next=row.next_request_at)


def acquire(
    engine: Engine,
    host: str,
    owner: str,
    *,
    lease_for: timedelta,
    wait_seconds: float,
    clock: Callable[[], datetime] = utcnow,
    sleep: Callable[[float], None] = time.sleep,
) -> SlotAnswer:
    """A slot on ``host`` (``lease_id`` set), waiting at most ``wait_seconds`` for one to open.

    Raises ``RateLimited`` while the host is held by a Retry-After, and ``FetchDeferred`` when no
    slot opens within the wait.
    """
    give_up = time.monotonic() + wait_seconds
    for attempt in itertools.count():
        with engine.begin() as conn:
            answer = try_acquire(conn, host, owner, now=clock(), lease_for=lease_for)
        if answer.lease_id is not None:
            return answer
        retry_at = answer.retry_at or clock()
        if not answer.held and retry_at <= clock() and attempt < 3:
            continue  # it opened while we waited for the host's row (another's clock ran ahead)
        if answer.held:
            raise RateLimited(
                f"{host} asked every client to slow down (a Retry-After seen by another platform on "
                f"this host); next collection not before {retry_at.isoformat()}",
                retry_at=retry_at,
            )
        opens_in = (retry_at - clock()).total_seconds()
        left = give_up - time.monotonic()
        # A busy slot may be freed any moment (its expiry is the latest it frees): keep trying
        # within the wait. A spacing that ends after the wait will not open in time.
        if left <= 0 or (answer.reason.startswith("spacing") and opens_in > left):
            raise FetchDeferred(
                f"no request slot on {host} within {wait_seconds:g} s ({answer.reason}; "
                f"HOST_SLOT_WAIT_SECONDS); deferred to {retry_at.isoformat()}",
                retry_at=retry_at,
            )
        sleep(max(0.0, min(opens_in, left, POLL_SECONDS[min(attempt, len(POLL_SECONDS) - 1)])))
    raise AssertionError("unreachable")  # pragma: no cover - itertools.count() never ends


def release(
    conn: Connection, host: str, slot: SlotAnswer, *, answered: bool = True, now: datetime | None = None
) -> None:
    """Give a slot back, in the caller's transaction (a lease that expired meanwhile is simply gone).

    ``answered=False``: the host never answered (no address, connection refused, no response):
    the spacing this request took is given back too, unless another request took its own since.
    Spacing protects a host from requests it serves; a local run that redelivers a message at
    once after "could not resolve host" would otherwise be deferred by its own failed attempt.
    """
    conn.execute(_RELEASE, {"lease_id": slot.lease_id, "host": host, "now": now or utcnow()})
    if not answered and slot.spaced_until is not None:
        conn.execute(
            _GIVE_SPACING_BACK,
            {"b_host": host, "b_spaced": slot.spaced_until, "b_previous": slot.previous_next},
        )


def hold(conn: Connection, host: str, until: datetime, *, now: datetime) -> None:
    """Hold every request to ``host`` until ``until`` (a Retry-After), in the caller's transaction;
    an existing later hold stays."""
    row = _lock_host(conn, host, now)
    current = row.retry_after_until
    if current is None or current < until:
        conn.execute(
            update(fetch_hosts)
            .where(fetch_hosts.c.host == host)
            .values(retry_after_until=until, updated_at=now)
        )


def set_override(
    conn: Connection,
    host: str,
    *,
    max_concurrent: int | None,
    min_spacing_ms: int | None,
    now: datetime,
) -> None:
    """Set (or, with ``None``, clear) the operator's limits for ``host``."""
    _lock_host(conn, host.lower(), now)
    conn.execute(
        update(fetch_hosts)
        .where(fetch_hosts.c.host == host.lower())
        .values(max_concurrent=max_concurrent, min_spacing_ms=min_spacing_ms, updated_at=now)
    )
