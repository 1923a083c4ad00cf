"""When a platform is due and where its next collection moves after each outcome (DESIGN section 3).

Pure functions: storage.py applies them, tests drive them with a fixed clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from charlee_collector.settings import SchedulingPolicy


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
        and (platform.next_collection_at is None or platform.next_collection_at <= now)
    )


def next_after_success(now: datetime, interval_minutes: int, retry_at: datetime | None = None) -> datetime:
    """One interval from now, and never before a Retry-After the platform gave us."""
    return _not_before(now + timedelta(minutes=interval_minutes), retry_at)


def backoff_delay(interval_minutes: int, failures: int, policy: SchedulingPolicy) -> timedelta:
    """The interval doubled for every consecutive failure after the first, capped by the policy."""
    doublings = min(max(failures - 1, 0), 30)  # 2**30 intervals already exceeds any sane cap
    return min(timedelta(minutes=interval_minutes) * (2**doublings), policy.max_backoff)


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
