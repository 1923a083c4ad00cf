"""Claiming and releasing platforms (DESIGN section 3) on PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select

from charlee_collector.core.clock import utcnow
from charlee_collector.core.scheduling import DUE_SLACK
from charlee_collector.core.settings import SchedulingPolicy
from charlee_collector.store.platforms import (
    CLAIM_LEASE,
    Claim,
    claim_due_platforms,
    claim_platforms,
    release_claims,
    settle_claims,
)
from charlee_collector.store.runs import RunRecord, finish_run
from charlee_collector.store.tables import platforms
from tests.support.factories import add_platform, add_platforms

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)


def _next_at(conn: Connection, platform_id: int) -> datetime | None:
    return conn.execute(
        select(platforms.c.next_collection_at).where(platforms.c.id == platform_id)
    ).scalar_one()


# The due rule as a table: case, the platform's columns, and whether a scheduled claim takes it.
DUE_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("never collected", {}, True),
    ("interval elapsed", {"next_collection_at": NOW - MINUTE}, True),
    ("next is exactly now", {"next_collection_at": NOW}, True),
    (
        "interval not elapsed",
        {"next_collection_at": NOW + 5 * MINUTE, "last_collection_at": NOW - 10 * MINUTE},
        False,
    ),
    (
        "Retry-After in the future",
        {"next_collection_at": NOW + 180 * MINUTE, "last_error": "HTTP 429"},
        False,
    ),
    ("inactive", {"active": False}, False),
    ("inactive, elapsed", {"active": False, "next_collection_at": NOW - MINUTE}, False),
    ("auto_collect off", {"auto_collect": False}, False),
    ("auto_collect off, elapsed", {"auto_collect": False, "next_collection_at": NOW - MINUTE}, False),
    ("paused", {"paused_at": NOW - 60 * MINUTE}, False),
    ("paused, elapsed", {"paused_at": NOW - 60 * MINUTE, "next_collection_at": NOW - 60 * MINUTE}, False),
]


def test_due_rule(pg_engine: Engine) -> None:
    """Every case side by side: a scheduled claim takes exactly the due ones and nothing else."""
    with pg_engine.begin() as conn:
        case_of = {add_platform(conn, name=case, **columns): case for case, columns, _ in DUE_CASES}
        claimed = {case_of[c.platform_id] for c in claim_due_platforms(conn, now=NOW, limit=100)}
    assert sorted(claimed) == sorted(case for case, _, due in DUE_CASES if due)


def test_oldest_first_and_limit(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        hour_ago = add_platform(conn, next_collection_at=NOW - 60 * MINUTE)
        never_b = add_platform(conn)
        two_hours_ago = add_platform(conn, next_collection_at=NOW - 120 * MINUTE)
        never_a = add_platform(conn)
        minute_ago = add_platform(conn, next_collection_at=NOW - MINUTE)
        add_platform(conn, next_collection_at=NOW + DUE_SLACK + MINUTE)  # not due

        first = claim_due_platforms(conn, now=NOW, limit=3)
        rest = claim_due_platforms(conn, now=NOW, limit=3)

    # Never collected comes first (ties by id), then the longest overdue.
    assert [c.platform_id for c in first] == [never_b, never_a, two_hours_ago]
    assert [c.platform_id for c in rest] == [hour_ago, minute_ago]


def test_claim_leases_the_platform_and_a_settled_send_moves_it_one_interval_forward(
    pg_engine: Engine,
) -> None:
    previous = NOW - 7 * MINUTE
    lease = NOW + CLAIM_LEASE
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, user_id=42, source="remoteok", collection_interval_minutes=30)
        other_id = add_platform(conn, next_collection_at=previous, collection_interval_minutes=15)

        claims = claim_due_platforms(conn, now=NOW, limit=10)
        assert claims == [
            Claim(platform_id, 42, "remoteok", None, claimed_until=NOW + 30 * MINUTE, lease_until=lease),
            Claim(other_id, 1, "rss", previous, claimed_until=NOW + 15 * MINUTE, lease_until=lease),
        ]
        assert _next_at(conn, platform_id) == _next_at(conn, other_id) == lease  # until the send is settled
        assert settle_claims(conn, sent=claims) == 2
        assert _next_at(conn, platform_id) == NOW + 30 * MINUTE
        assert _next_at(conn, other_id) == NOW + 15 * MINUTE

    # A second dispatcher tick (or a retried one) at the same moment gets nothing ...
    with pg_engine.begin() as conn:
        assert claim_due_platforms(conn, now=NOW, limit=10) == []
        assert claim_due_platforms(conn, now=NOW + 15 * MINUTE - DUE_SLACK - SECOND, limit=10) == []
    # ... until the claimed interval has passed (less the due slack: scheduling.DUE_SLACK).
    with pg_engine.begin() as conn:
        again = claim_due_platforms(conn, now=NOW + 15 * MINUTE - DUE_SLACK, limit=10)
    assert [c.platform_id for c in again] == [other_id]


def test_a_lease_never_outlasts_the_interval(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        every_minute = add_platform(conn, collection_interval_minutes=1)
        (claim,) = claim_due_platforms(conn, now=NOW, limit=10)
    assert (claim.platform_id, claim.lease_until, claim.claimed_until) == (
        every_minute,
        NOW + MINUTE,
        NOW + MINUTE,
    )


def test_a_claim_nobody_settles_is_due_again_when_its_lease_ends(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=6 * 60)
        (lost,) = claim_due_platforms(conn, now=NOW, limit=10)
    with pg_engine.begin() as conn:
        assert claim_due_platforms(conn, now=NOW + CLAIM_LEASE - DUE_SLACK - SECOND, limit=10) == []
        (again,) = claim_due_platforms(conn, now=NOW + CLAIM_LEASE - DUE_SLACK, limit=10)
        assert again.platform_id == platform_id
        # The lost claim's settling, come late, leaves the new claim alone.
        assert settle_claims(conn, sent=[lost]) == 0


def test_release_restores_the_previous_next_collection(pg_engine: Engine) -> None:
    previous = NOW - 7 * MINUTE
    with pg_engine.begin() as conn:
        never = add_platform(conn)
        overdue = add_platform(conn, next_collection_at=previous)
        claims = claim_due_platforms(conn, now=NOW, limit=10)

    with pg_engine.begin() as conn:
        assert release_claims(conn, claims) == 2
        assert _next_at(conn, never) is None
        assert _next_at(conn, overdue) == previous

    with pg_engine.begin() as conn:
        assert [c.platform_id for c in claim_due_platforms(conn, now=NOW, limit=10)] == [never, overdue]


def test_release_of_nothing(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        assert release_claims(conn, []) == 0


def test_release_leaves_a_platform_collected_in_between(pg_engine: Engine) -> None:
    """The message was sent after all (or an on-demand run happened): its run moved next on."""
    with pg_engine.begin() as conn:
        collected = add_platform(conn)
        untouched = add_platform(conn)
        claims = claim_due_platforms(conn, now=NOW, limit=10)

    with pg_engine.begin() as conn:
        after = finish_run(
            conn,
            RunRecord(
                collected, "on_demand", "success", started_at=NOW + MINUTE, finished_at=NOW + 2 * MINUTE
            ),
            SchedulingPolicy(),
        )

    with pg_engine.begin() as conn:
        assert release_claims(conn, claims) == 1
        assert _next_at(conn, collected) == after.next_collection_at == NOW + 17 * MINUTE
        assert _next_at(conn, untouched) is None


def test_release_leaves_a_platform_claimed_again(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        stale = claim_due_platforms(conn, now=NOW, limit=10)
    later = NOW + 20 * MINUTE
    with pg_engine.begin() as conn:
        fresh = claim_due_platforms(conn, now=later, limit=10)
    assert [c.platform_id for c in fresh] == [platform_id]

    with pg_engine.begin() as conn:
        assert release_claims(conn, stale) == 0
        assert _next_at(conn, platform_id) == later + CLAIM_LEASE  # the second claim's lease


def test_claim_platforms_of_a_user_takes_every_active_one_due_or_not(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        due = add_platform(conn, user_id=7)
        not_due = add_platform(conn, user_id=7, next_collection_at=NOW + 60 * MINUTE)
        paused = add_platform(conn, user_id=7, paused_at=NOW - MINUTE)
        manual_only = add_platform(conn, user_id=7, auto_collect=False)
        add_platform(conn, user_id=7, active=False)
        add_platform(conn, user_id=8)

        claims = claim_platforms(conn, now=NOW, user_id=7)
        assert [c.platform_id for c in claims] == [due, not_due, paused, manual_only]
        assert {c.user_id for c in claims} == {7}
        assert claims[1].previous_next_collection_at == NOW + 60 * MINUTE
        assert all(_next_at(conn, c.platform_id) == NOW + CLAIM_LEASE for c in claims)
        assert all(c.claimed_until == NOW + 15 * MINUTE for c in claims)

        assert claim_platforms(conn, now=NOW, user_id=999) == []


def test_claim_platforms_by_id(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        not_due = add_platform(conn, next_collection_at=NOW + 60 * MINUTE)
        inactive = add_platform(conn, active=False)
        not_asked = add_platform(conn)

        claims = claim_platforms(conn, now=NOW, platform_ids=[inactive, not_due, 10_000])
        # The collector decides what to do with an inactive one (a skipped run); unknown ids vanish.
        assert [c.platform_id for c in claims] == [not_due, inactive]
        assert _next_at(conn, not_due) == NOW + CLAIM_LEASE
        assert _next_at(conn, not_asked) is None

        assert claim_platforms(conn, now=NOW, platform_ids=[]) == []


def test_claim_platforms_needs_exactly_one_selector(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        with pytest.raises(ValueError, match="exactly one"):
            claim_platforms(conn, now=NOW)
        with pytest.raises(ValueError, match="exactly one"):
            claim_platforms(conn, now=NOW, user_id=1, platform_ids=[1])


# --- two dispatchers at once --------------------------------------------------------------------


def _claim_until_empty(engine: Engine, *, threads: int, limit: int) -> list[list[int]]:
    """Run ``threads`` dispatchers, each on its own connection, claiming batches until none is left."""
    barrier = threading.Barrier(threads)
    claimed: list[list[int]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def dispatcher(index: int) -> None:
        try:
            with engine.connect() as conn:
                barrier.wait(timeout=30)
                while True:
                    with conn.begin():
                        batch = claim_due_platforms(conn, now=utcnow(), limit=limit)
                    if not batch:
                        return
                    claimed[index].extend(c.platform_id for c in batch)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)
            barrier.abort()

    workers = [threading.Thread(target=dispatcher, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert not errors, errors
    assert not any(worker.is_alive() for worker in workers)
    return claimed


def _assert_each_claimed_once(claimed: list[list[int]], ids: list[int]) -> None:
    everything = [pid for batch in claimed for pid in batch]
    twice = {pid: n for pid, n in Counter(everything).items() if n > 1}
    assert len(twice) == 0, f"{len(twice)} platforms claimed more than once"
    assert len(everything) == len(ids)
    assert set(everything) == set(ids)


def test_concurrent_dispatchers_claim_each_platform_once_postgres(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 320)
    claimed = _claim_until_empty(pg_engine, threads=6, limit=15)
    _assert_each_claimed_once(claimed, ids)


def test_open_claim_is_skipped_not_waited_for_postgres(pg_engine: Engine) -> None:
    """SKIP LOCKED: a second dispatcher takes the next rows while the first has not committed."""
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 10)
    with pg_engine.connect() as first, pg_engine.connect() as second:
        with first.begin() as open_claim:
            held = claim_due_platforms(first, now=NOW, limit=4)
            with second.begin():
                taken = claim_due_platforms(second, now=NOW, limit=4)
            open_claim.rollback()  # the first dispatcher died: its rows are due again
        with second.begin():
            after = claim_due_platforms(second, now=NOW, limit=10)
    assert [c.platform_id for c in held] == ids[:4]
    assert [c.platform_id for c in taken] == ids[4:8]
    assert [c.platform_id for c in after] == ids[:4] + ids[8:]


def _before_first_write(conn: Connection, action: Callable[[], None]) -> None:
    """Run ``action`` just before ``conn`` sends its first statement that is not a SELECT."""
    done = False

    def hook(*args: Any) -> None:
        nonlocal done
        statement = args[2]
        if not done and not statement.lstrip().upper().startswith("SELECT"):
            done = True
            action()

    event.listen(conn, "before_cursor_execute", hook)
