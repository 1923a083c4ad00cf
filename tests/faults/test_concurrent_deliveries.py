"""Concurrent deliveries of one collect message never deadlock each other (issue 10, item 8).

SQS may hand the same message to several invocations at once, and a platform may answer each
request with its items in another order. Every delivery writes the platform's rows in one
order (the platform row first, then the opportunities by ``external_id``), so the deliveries
wait for each other instead of deadlocking: every one succeeds and records its run, and no
opportunity is stored twice.
"""

from __future__ import annotations

import json
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    inserted_total,
    json_api_config,
    message,
    opportunity_count,
    platform_row,
    runs_of,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

DELIVERIES = 4
ROUNDS = 3
ITEMS = 200
# The server holds each answer this long, so the deliveries of a round reach the database together.
LINE_UP_SECONDS = 0.2


def _shuffled_payload(generation: int, rng: random.Random) -> dict[str, Any]:
    """The same ITEMS jobs (their text says which generation they are) in a random order."""
    jobs = [
        {
            "id": f"job-{n:04d}",
            "title": f"job {n} (generation {generation})",
            "description": f"<p>Work item {n}, generation {generation}</p>",
            "url": f"https://jobs.example/{n}",
        }
        for n in range(ITEMS)
    ]
    rng.shuffle(jobs)
    return {"body": json.dumps({"jobs": jobs}).encode(), "delay": LINE_UP_SECONDS}


def _at_once(count: int, call: Callable[[], set[str]]) -> list[set[str]]:
    """Run ``call`` on ``count`` threads released together by a barrier."""
    start = threading.Barrier(count)

    def run() -> set[str]:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [future.result(timeout=120) for future in futures]


def test_concurrent_deliveries_in_shuffled_orders_never_deadlock(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    rng = random.Random(10_8)
    # Every round rewrites the items (a new generation), so later rounds update rows, not only insert.
    http_server.route_sequence(
        "/jobs",
        [_shuffled_payload(generation, rng) for generation in range(ROUNDS) for _ in range(DELIVERIES)],
    )
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
    same = message(body(platform_id))

    for _ in range(ROUNDS):
        assert _at_once(DELIVERIES, lambda: collect([same])) == [set()] * DELIVERIES

    history = runs_of(fault_env.engine, platform_id)
    assert [r.outcome for r in history] == ["success"] * (DELIVERIES * ROUNDS)
    assert all(r.fetched == ITEMS and r.error is None for r in history)
    assert opportunity_count(fault_env.engine) == ITEMS
    assert inserted_total(fault_env.engine, platform_id) == ITEMS
    # Each generation is written by the first delivery that stores it; the others find it unchanged.
    assert sum(r.updated for r in history) == ITEMS * (ROUNDS - 1)
    platform = platform_row(fault_env.engine, platform_id)
    assert (platform.consecutive_failures, platform.total_projects_collected) == (0, ITEMS)


def test_concurrent_failing_deliveries_all_record_their_run(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    """No items to write, only runs: recording a run alone locks the platform first as well."""
    http_server.route("/jobs", status=404, delay=LINE_UP_SECONDS)
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
    same = message(body(platform_id))

    for _ in range(ROUNDS):
        assert _at_once(DELIVERIES, lambda: collect([same])) == [set()] * DELIVERIES

    history = runs_of(fault_env.engine, platform_id)
    assert [r.outcome for r in history] == ["failed"] * (DELIVERIES * ROUNDS)
    assert platform_row(fault_env.engine, platform_id).consecutive_failures == DELIVERIES * ROUNDS
