"""A platform row whose interval is out of range (written before migration 0002 bounded it) is
claimed and scheduled at the longest interval, beside the others."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text

from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector.core.settings import SchedulingPolicy
from charlee_collector.store.platforms import claim_due_platforms, claim_platforms
from charlee_collector.store.runs import RunRecord, finish_run
from tests.support.factories import add_platform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
LONGEST = MAX_INTERVAL_MINUTES * MINUTE
POLICY = SchedulingPolicy(max_backoff=timedelta(days=365), pause_after_failures=10)
# The largest value the column (an int4) holds.
HUGE = 2_147_483_647


@pytest.fixture
def unguarded(pg_engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction where the interval's guard is gone, as in a database written
    before 0002; never committed (the DDL is rolled back with it)."""
    with pg_engine.connect() as conn:
        conn.execute(text("ALTER TABLE freelance_platforms DROP CONSTRAINT ck_freelance_platforms_interval"))
        yield conn
        conn.rollback()


def _run(platform_id: int, outcome: str) -> RunRecord:
    return RunRecord(platform_id, "schedule", outcome, started_at=NOW - MINUTE, finished_at=NOW)


def test_scheduled_claim_takes_it_at_the_longest_interval_beside_the_others(unguarded: Connection) -> None:
    bad = add_platform(unguarded, collection_interval_minutes=HUGE)
    good = add_platform(unguarded, collection_interval_minutes=15)
    claims = {c.platform_id: c.claimed_until for c in claim_due_platforms(unguarded, now=NOW, limit=10)}
    assert claims == {bad: NOW + LONGEST, good: NOW + 15 * MINUTE}


def test_on_demand_claim_takes_it_at_the_longest_interval(unguarded: Connection) -> None:
    bad = add_platform(unguarded, collection_interval_minutes=HUGE)
    [claim] = claim_platforms(unguarded, now=NOW, platform_ids=[bad])
    assert claim.claimed_until == NOW + LONGEST


@pytest.mark.parametrize("outcome", ["success", "not_modified", "rate_limited", "failed"])
def test_finishing_a_run_schedules_it_at_most_the_longest_interval_ahead(
    unguarded: Connection, outcome: str
) -> None:
    """Even a backoff policy longer than the longest interval waits no longer than it."""
    bad = add_platform(unguarded, collection_interval_minutes=HUGE, consecutive_failures=5)
    after = finish_run(unguarded, _run(bad, outcome), POLICY)
    assert after.next_collection_at == NOW + LONGEST
