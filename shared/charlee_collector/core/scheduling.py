"""When a platform is due and where its next collection moves after each outcome.

Pure functions (docs/architecture.md, "Scheduling"): ``store.platforms`` and ``store.runs`` apply
them, tests drive them with a fixed clock. An interval read from a row is clamped again to
``core.limits`` (``MIN_INTERVAL_MINUTES`` to ``MAX_INTERVAL_MINUTES``), so a row out of range is
collected at the bound instead of raising (a date out of range) and stopping every other platform;
no delay computed here is longer than the longest interval, whatever the policy's backoff cap, so
``now`` plus any of them is a valid date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from charlee_collector.core.limits import MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES
from charlee_collector.core.settings import SchedulingPolicy

# A tick counts a platform due when its next collection falls within this after the tick. A run
# ends seconds after the tick that sent it and moves the next collection one interval after its
# end: without the slack, that lands just past the tick one interval later, and a platform whose
# interval is the schedule's period was collected on every other tick (30 minutes, not 15; found
# by bench/alert_latency.py). The price: a collection may start up to this much less than one
# interval after the previous one ended, never less than one interval after it was sent.
DUE_SLACK = timedelta(seconds=60)


def due_before(now: datetime) -> datetime:
    """The latest next-collection time that is due at a tick at ``now`` (``DUE_SLACK``)."""
    return now + DUE_SLACK


@dataclass(frozen=True)
class PlatformSchedule:
    """The columns of a platform that decide when it runs."""

    active: bool
    auto_collect: bool
    paused_at: datetime | None
    next_collection_at: datetime | None
    collection_interval_minutes: int
    consecutive_failures: int = 0


def is_due(platform: PlatformSchedule, now: datetime) -> bool:
    """True when the scheduled dispatcher should collect this platform now."""
    return (
        platform.active
        and platform.auto_collect
        and platform.paused_at is None
        and (platform.next_collection_at is None or platform.next_collection_at <= due_before(now))
    )


def check_interval(interval_minutes: int) -> int:
    """The interval when it is in the allowed range; otherwise a ValueError whose message
    (``must be 1 to ... minutes``) reads after the name of whatever was given."""
    if not MIN_INTERVAL_MINUTES <= interval_minutes <= MAX_INTERVAL_MINUTES:
        raise ValueError(
            f"must be {MIN_INTERVAL_MINUTES} to {MAX_INTERVAL_MINUTES} minutes "
            f"({MAX_INTERVAL_MINUTES // (24 * 60)} days), got {interval_minutes}"
        )
    return interval_minutes


def bounded_interval(interval_minutes: int) -> int:
    """The interval clamped into the allowed range (what a platform is collected at)."""
    return min(max(interval_minutes, MIN_INTERVAL_MINUTES), MAX_INTERVAL_MINUTES)


def next_after_success(now: datetime, interval_minutes: int, retry_at: datetime | None = None) -> datetime:
    """One interval from now, and never before a Retry-After the platform gave us."""
    return _not_before(now + timedelta(minutes=bounded_interval(interval_minutes)), retry_at)


def backoff_delay(interval_minutes: int, failures: int, policy: SchedulingPolicy) -> timedelta:
    """The interval doubled for every consecutive failure after the first, capped by the policy
    (and by the longest interval, whatever the policy says)."""
    doublings = min(max(failures - 1, 0), 30)  # 2**30 intervals already exceeds any sane cap
    # Capped as whole minutes first: 30 days times 2**30 is past what a timedelta holds.
    minutes = min(bounded_interval(interval_minutes) * 2**doublings, MAX_INTERVAL_MINUTES)
    return min(timedelta(minutes=minutes), policy.max_backoff)


def next_after_failure(
    now: datetime,
    interval_minutes: int,
    failures: int,
    policy: SchedulingPolicy,
    retry_at: datetime | None = None,
) -> datetime:
    """When to try a failing platform again: exponential backoff, never before Retry-After."""
    return _not_before(now + backoff_delay(interval_minutes, failures, policy), retry_at)


def should_pause(failures: int, policy: SchedulingPolicy) -> bool:
    """True once a platform has failed often enough in a row that a person should look at it."""
    return failures >= policy.pause_after_failures


def _not_before(when: datetime, retry_at: datetime | None) -> datetime:
    return max(when, retry_at) if retry_at is not None else when
