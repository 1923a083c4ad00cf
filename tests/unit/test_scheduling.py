"""scheduling.py: when a platform is due, how far failures push it back, when it pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from charlee_collector.core.limits import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES
from charlee_collector.core.scheduling import (
    DUE_SLACK,
    PlatformSchedule,
    backoff_delay,
    bounded_interval,
    check_interval,
    is_due,
    next_after_failure,
    next_after_success,
    should_pause,
)
from charlee_collector.core.settings import SchedulingPolicy

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
DUE_PLATFORM = PlatformSchedule(
    active=True,
    auto_collect=True,
    paused_at=None,
    next_collection_at=None,
    collection_interval_minutes=15,
)


@pytest.mark.parametrize(
    ("changes", "due"),
    [
        pytest.param({}, True, id="never-collected"),
        pytest.param({"next_collection_at": NOW - MINUTE}, True, id="interval-elapsed"),
        pytest.param({"next_collection_at": NOW}, True, id="next-is-exactly-now"),
        # A run ends seconds after its tick: its next collection, one interval after its end, is
        # due at the tick one interval later (DUE_SLACK), not at the one after that.
        pytest.param({"next_collection_at": NOW + timedelta(seconds=30)}, True, id="within-the-due-slack"),
        pytest.param({"next_collection_at": NOW + DUE_SLACK}, True, id="at-the-due-slack"),
        pytest.param(
            {"next_collection_at": NOW + DUE_SLACK + timedelta(seconds=1)}, False, id="interval-not-elapsed"
        ),
        pytest.param({"next_collection_at": NOW + timedelta(hours=3)}, False, id="retry-after-in-future"),
        pytest.param({"active": False}, False, id="inactive"),
        pytest.param({"auto_collect": False}, False, id="auto-collect-off"),
        pytest.param({"paused_at": NOW - timedelta(days=1)}, False, id="paused"),
        pytest.param(
            {"paused_at": NOW - timedelta(days=1), "next_collection_at": NOW - timedelta(days=2)},
            False,
            id="paused-although-elapsed",
        ),
        pytest.param(
            {"active": False, "next_collection_at": NOW - MINUTE}, False, id="inactive-although-elapsed"
        ),
    ],
)
def test_is_due(changes: dict[str, object], due: bool) -> None:
    assert is_due(replace(DUE_PLATFORM, **changes), NOW) is due


@pytest.mark.parametrize(
    ("failures", "expected_minutes"),
    [
        (0, 15),
        (1, 15),
        (2, 30),
        (3, 60),
        (4, 120),
        (5, 240),
        (6, 480),
        (7, 960),
        (8, 1440),  # 1920 capped at 24 h
        (9, 1440),
        (40, 1440),
        (10_000, 1440),  # no overflow for absurd counts
    ],
)
def test_backoff_doubles_per_failure_up_to_the_cap(failures: int, expected_minutes: int) -> None:
    policy = SchedulingPolicy(max_backoff=timedelta(hours=24))
    assert backoff_delay(15, failures, policy) == timedelta(minutes=expected_minutes)


@pytest.mark.parametrize(
    ("interval", "failures", "cap", "expected"),
    [
        pytest.param(60, 1, timedelta(hours=4), timedelta(hours=1), id="first-failure-is-one-interval"),
        pytest.param(60, 3, timedelta(hours=4), timedelta(hours=4), id="exactly-the-cap"),
        pytest.param(60, 4, timedelta(hours=4), timedelta(hours=4), id="past-the-cap"),
        pytest.param(600, 1, timedelta(hours=2), timedelta(hours=2), id="cap-below-the-interval-wins"),
    ],
)
def test_backoff_cap(interval: int, failures: int, cap: timedelta, expected: timedelta) -> None:
    assert backoff_delay(interval, failures, SchedulingPolicy(max_backoff=cap)) == expected


@pytest.mark.parametrize(
    ("failures", "pause_after", "paused"),
    [
        (0, 3, False),
        (1, 3, False),
        (2, 3, False),
        (3, 3, True),
        (4, 3, True),
        (1, 1, True),
        (9, 10, False),
        (10, 10, True),
    ],
)
def test_should_pause(failures: int, pause_after: int, paused: bool) -> None:
    assert should_pause(failures, SchedulingPolicy(pause_after_failures=pause_after)) is paused


@pytest.mark.parametrize(
    ("retry_at", "expected"),
    [
        pytest.param(None, NOW + 15 * MINUTE, id="no-retry-after"),
        pytest.param(NOW + 5 * MINUTE, NOW + 15 * MINUTE, id="retry-after-sooner-than-interval"),
        pytest.param(NOW + 15 * MINUTE, NOW + 15 * MINUTE, id="retry-after-equal"),
        pytest.param(NOW + 2 * 60 * MINUTE, NOW + 2 * 60 * MINUTE, id="retry-after-later-wins"),
        pytest.param(NOW - 60 * MINUTE, NOW + 15 * MINUTE, id="retry-after-in-the-past"),
    ],
)
def test_next_after_success_respects_retry_after(retry_at: datetime | None, expected: datetime) -> None:
    assert next_after_success(NOW, 15, retry_at) == expected


@pytest.mark.parametrize(
    ("failures", "retry_at", "expected"),
    [
        pytest.param(1, None, NOW + 15 * MINUTE, id="first-failure"),
        pytest.param(3, None, NOW + 60 * MINUTE, id="third-failure-backed-off"),
        pytest.param(20, None, NOW + 24 * 60 * MINUTE, id="capped"),
        pytest.param(3, NOW + 10 * MINUTE, NOW + 60 * MINUTE, id="backoff-later-than-retry-after"),
        pytest.param(3, NOW + 5 * 60 * MINUTE, NOW + 5 * 60 * MINUTE, id="retry-after-later-than-backoff"),
        pytest.param(20, NOW + 48 * 60 * MINUTE, NOW + 48 * 60 * MINUTE, id="retry-after-beyond-the-cap"),
    ],
)
def test_next_after_failure(failures: int, retry_at: datetime | None, expected: datetime) -> None:
    policy = SchedulingPolicy(max_backoff=timedelta(hours=24))
    assert next_after_failure(NOW, 15, failures, policy, retry_at) == expected


# --- the interval's bound (issue 10, item 10) ----------------------------------------------------

LONGEST = timedelta(minutes=MAX_INTERVAL_MINUTES)
OUT_OF_RANGE = [-5, 0, MAX_INTERVAL_MINUTES + 1, 99_999_999_999, 10**30]


@pytest.mark.parametrize("interval", [MIN_INTERVAL_MINUTES, 15, MAX_INTERVAL_MINUTES])
def test_check_interval_accepts_the_range(interval: int) -> None:
    assert check_interval(interval) == interval == bounded_interval(interval)


@pytest.mark.parametrize("interval", OUT_OF_RANGE)
def test_check_interval_refuses_outside_the_range(interval: int) -> None:
    with pytest.raises(ValueError, match=rf"^must be 1 to {MAX_INTERVAL_MINUTES} minutes \(30 days\), got"):
        check_interval(interval)


@pytest.mark.parametrize("interval", OUT_OF_RANGE)
def test_scheduling_arithmetic_never_fails_for_an_interval_out_of_range(interval: int) -> None:
    """A row written before the bound is collected at the bound, never a date out of range."""
    expected = NOW + (MIN_INTERVAL_MINUTES * MINUTE if interval < MIN_INTERVAL_MINUTES else LONGEST)
    assert next_after_success(NOW, interval) == expected
    no_cap = SchedulingPolicy(max_backoff=timedelta(days=999_999))
    assert next_after_failure(NOW, interval, 1, no_cap) == expected
    assert next_after_failure(NOW, interval, 10_000, no_cap) <= NOW + LONGEST


def test_no_backoff_waits_longer_than_the_longest_interval() -> None:
    policy = SchedulingPolicy(max_backoff=timedelta(days=999_999))
    assert backoff_delay(MAX_INTERVAL_MINUTES, 30, policy) == LONGEST
    # Near the end of time, the longest wait still lands on a valid date.
    assert (
        next_after_failure(datetime(9999, 1, 1, tzinfo=UTC), 10**30, 50, policy)
        == datetime(9999, 1, 1, tzinfo=UTC) + LONGEST
    )
