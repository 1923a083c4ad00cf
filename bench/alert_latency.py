"""Alert latency end to end: a job posted -> its platform collected -> the person notified.

Platforms post jobs at random times; the dispatcher ticks on the schedule (15 minutes) and
claims what is due with the scheduler's own rules (``core.scheduling.is_due`` and
``next_after_success``, as ``store.platforms`` and ``store.runs`` apply them: a claim moves the
platform one interval ahead of the tick, the run's success one interval ahead of its end); the
collector stand-in takes each message after an SQS latency, fetches after an HTTP latency,
stores and publishes (EventBridge -> NotificationsQueue latency); the notifier stand-in gets
what NotificationsQueue gathered, a batch ending 60 s after its first message
(``MaximumBatchingWindowInSeconds``) or at 100 messages, and sends after the channel's HTTP
latency. A virtual clock: no sleeping, the same seed gives the same figures.

Prints ``alert_latency_p50_seconds``, ``alert_latency_p95_seconds`` and the target (the schedule
period + 60 s), for platforms whose interval is the period. ``--seed``, ``--platforms``,
``--hours``; ``--due exact`` runs the scheduler as it was before ``core.scheduling.DUE_SLACK``
(due only when the next collection is at or before the tick: a platform whose interval is the
period was collected on every other tick), beside the scheduler as it is (``--due slack``, the
default).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
from datetime import UTC, datetime, timedelta

from charlee_collector.core.scheduling import DUE_SLACK, PlatformSchedule, is_due, next_after_success

PERIOD_MINUTES = 15
BATCH_WINDOW_SECONDS = 60.0
BATCH_SIZE = 100
EPOCH = datetime(2026, 12, 1, tzinfo=UTC)


def _ms(low: float, high: float, rng: random.Random) -> float:
    """A latency in seconds, log-uniform between ``low`` and ``high`` milliseconds (a long tail)."""
    return float(10 ** rng.uniform(math.log10(low), math.log10(high))) / 1000


def simulate(*, seed: int, platforms: int, hours: float, due: str = "slack") -> list[tuple[float, float]]:
    """(seconds from posting, seconds from collection) to notification of every job alerted in
    ``hours`` of schedule. ``due``: "slack" is the scheduler as it is (``is_due``, with its
    ``DUE_SLACK``); "exact" the scheduler before it (due only at or before the tick)."""
    rng = random.Random(seed)
    # is_due adds DUE_SLACK to the tick; "exact" takes it back off to run the old rule.
    slack = -DUE_SLACK if due == "exact" else timedelta(0)
    period = PERIOD_MINUTES * 60
    end = hours * 3600
    # Each platform posts jobs as a Poisson process: about 2 an hour.
    posts: dict[int, list[float]] = {
        p: sorted(rng.uniform(0, end) for _ in range(max(int(rng.gauss(2 * hours, 2)), 0)))
        for p in range(platforms)
    }
    schedules = {p: PlatformSchedule(True, True, None, None, PERIOD_MINUTES) for p in range(platforms)}
    collected_up_to = dict.fromkeys(range(platforms), 0.0)
    events: list[tuple[float, int, str, object]] = []
    order = 0

    def at(when: float, kind: str, payload: object) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (when, order, kind, payload))

    tick = 0.0
    while tick < end:
        at(tick + rng.uniform(0, 2), "tick", None)  # EventBridge fires within a few seconds
        tick += period
    batch: list[tuple[float, list[float]]] = []  # (collected at, posted times)
    batch_deadline: float | None = None
    latencies: list[tuple[float, float]] = []

    def flush(now: float) -> None:
        nonlocal batch, batch_deadline
        sent_at = now + _ms(50, 400, rng) + _ms(80, 900, rng)  # rules + claim, then the channel
        latencies.extend(
            (sent_at - posted, sent_at - collected)
            for collected, posted_list in batch
            for posted in posted_list
        )
        batch, batch_deadline = [], None

    while events:
        now, _, kind, payload = heapq.heappop(events)
        if batch_deadline is not None and now >= batch_deadline:
            flush(batch_deadline)
        if kind == "tick":
            clock = EPOCH + timedelta(seconds=now)
            dispatch_done = now + _ms(40, 250, rng)  # claim + SendMessageBatch (10 a call)
            for p, schedule in schedules.items():
                if is_due(schedule, clock + slack):
                    claimed = clock + timedelta(minutes=PERIOD_MINUTES)
                    schedules[p] = PlatformSchedule(True, True, None, claimed, PERIOD_MINUTES)
                    # The collect message reaches the collector after SQS's latency and its poll.
                    at(dispatch_done + _ms(10, 60, rng) + rng.uniform(0, 1.0), "collect", (p, clock))
        elif kind == "collect":
            p, _claimed_at = payload  # type: ignore[misc]
            finished = now + _ms(150, 3000, rng) + _ms(20, 120, rng)  # fetch, then upsert + run
            base = EPOCH + timedelta(seconds=finished)
            schedules[p] = PlatformSchedule(
                True, True, None, next_after_success(base, PERIOD_MINUTES), PERIOD_MINUTES
            )
            # What the platform showed when fetched: everything posted since the last fetch.
            fetched_at = finished - 0.05
            new = [t for t in posts[p] if collected_up_to[p] < t <= fetched_at]
            collected_up_to[p] = fetched_at
            if new:
                at(finished + _ms(100, 800, rng), "queued", (finished, new))  # PutEvents -> rule -> SQS
        elif kind == "queued":
            batch.append(payload)  # type: ignore[arg-type]
            if batch_deadline is None:
                batch_deadline = now + BATCH_WINDOW_SECONDS
            if len(batch) >= BATCH_SIZE:
                flush(now)
    if batch:
        flush(batch_deadline or end)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=30)
    parser.add_argument("--platforms", type=int, default=200)
    parser.add_argument("--hours", type=float, default=48)
    parser.add_argument(
        "--due",
        choices=["slack", "exact"],
        default="slack",
        help="slack: the scheduler as it is; exact: before",
    )
    args = parser.parse_args()
    alerts = simulate(seed=args.seed, platforms=args.platforms, hours=args.hours, due=args.due)
    from_posting = sorted(a for a, _ in alerts)
    from_collection = sorted(c for _, c in alerts)

    def p95(values: list[float]) -> float:
        return values[int(0.95 * (len(values) - 1))]

    target = PERIOD_MINUTES * 60 + 60
    print(f"alerts {len(alerts)} count")
    print(f"alert_latency_p50_seconds {statistics.median(from_posting):.0f} s")
    print(f"alert_latency_p95_seconds {p95(from_posting):.0f} s")
    print(f"alert_latency_target_seconds {target} s ({'met' if p95(from_posting) <= target else 'NOT met'})")
    # What the pipeline after the fetch adds (the "at most a minute"): collection -> notified.
    print(f"collected_to_notified_p95_seconds {p95(from_collection):.0f} s")


if __name__ == "__main__":
    main()
