"""The Lambda's time runs out in the middle of a batch: records not yet started are reported
failed without being touched (no request, no run, platform row unchanged) and are collected
when SQS delivers them again."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    drain,
    jobs_payload,
    json_api_config,
    message,
    platform_row,
    poller,
    runs_of,
    send,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

MARGIN_MS = 1_000
DELAY = 0.3  # each collection takes at least this long: the server is slow


@dataclass
class RunningOutContext(LocalLambdaContext):
    """A context with plenty of time for the first ``started`` looks, then less than the margin.

    The collector looks at the remaining time once per record, before starting it; counting
    the looks makes "time runs out after the first records" exact, where a wall clock would
    race a slow machine.
    """

    started: int = 2
    looks: list[int] = field(default_factory=list)

    def get_remaining_time_in_millis(self) -> int:
        left = 60_000 if len(self.looks) < self.started else MARGIN_MS // 2
        self.looks.append(left)
        return left


def _platforms(
    fault_env: FaultEnv, server: LocalHTTPServer, count: int, *, delay: float = DELAY
) -> list[int]:
    """``count`` json_api platforms, each served at /jobs/<n> after ``delay`` seconds."""
    with fault_env.engine.begin() as conn:
        ids = []
        for n in range(count):
            server.route(f"/jobs/{n}", body=jobs_payload(3, f"p{n}"), delay=delay)
            ids.append(
                add_platform(conn, source="json_api", config=json_api_config(server.url(f"/jobs/{n}")))
            )
        return ids


def test_records_not_started_before_the_deadline_are_failed_untouched(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    fault_env.set(COLLECTOR_CONCURRENCY="1", TIME_MARGIN_MS=str(MARGIN_MS))
    ids = _platforms(fault_env, http_server, 5)
    before = {i: platform_row(fault_env.engine, i) for i in ids}
    batch = [message(body(i)) for i in ids]
    context = RunningOutContext("CollectorFunction", started=2)

    failed = collect(batch, context)

    assert failed == {m["MessageId"] for m in batch[2:]}
    assert len(context.looks) == 5  # every record looked at the clock; three found it too late
    for n, platform_id in enumerate(ids):
        history = runs_of(fault_env.engine, platform_id)
        if n < 2:
            assert [r.outcome for r in history] == ["success"]
            continue
        # Untouched: never fetched, no run, the platform row exactly as it was.
        assert history == []
        assert http_server.requests_to(f"/jobs/{n}") == []
        assert platform_row(fault_env.engine, platform_id) == before[platform_id]


def test_deadline_mid_batch_then_redelivery_collects_everything(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    """The same through the queue, with records running four at a time and a real clock: the
    first wave starts with time to spare, the second finds it gone."""
    fault_env.set(COLLECTOR_CONCURRENCY="4", TIME_MARGIN_MS=str(MARGIN_MS), COLLECTION_DEADLINE_SECONDS="3")
    # A record starts only while the 1 s margin plus a 3 s collection fit. 5 s left, 1.5 s per
    # collection: the first wave starts with ~1 s to spare, the second would start with ~3.5 s
    # left, under the 4 s needed.
    ids = _platforms(fault_env, http_server, 6, delay=1.5)
    send(fault_env.queues, *(body(i) for i in ids))
    context = LocalLambdaContext("CollectorFunction")
    context._deadline = time.monotonic() + 5.0
    running = poller(fault_env.queues, context=context)
    running.poll_once()

    # Four started (the first wave), two were left for SQS.
    assert (running.stats.received, running.stats.succeeded, running.stats.failed) == (6, 4, 2)
    collected = [i for i in ids if runs_of(fault_env.engine, i)]
    assert len(collected) == 4
    assert len(http_server.requests) == 4

    drain(fault_env.queues)
    for platform_id in ids:
        assert [r.outcome for r in runs_of(fault_env.engine, platform_id)] == ["success"]
    assert fault_env.queues.depth() == 0
