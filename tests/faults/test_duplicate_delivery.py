"""SQS delivers at least once: the same collect message handled again (one after another, in one
batch, or at the same moment in separate invocations) adds no duplicate opportunity, and the
runs' counts stay right: the ``inserted`` of all runs add up to the rows that exist."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    inserted_total,
    jobs_payload,
    json_api_config,
    message,
    opportunity_count,
    platform_row,
    runs_of,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

ITEMS = 300


def _assert_overlapped(fault_env: FaultEnv, platform_id: int) -> None:
    """The runs really ran at the same time (every one started before any finished)."""
    history = runs_of(fault_env.engine, platform_id)
    assert max(r.started_at for r in history) < min(r.finished_at for r in history)


@pytest.fixture
def platform_id(fault_env: FaultEnv, http_server: LocalHTTPServer) -> int:
    # The delay lines the concurrent runs up, so their upserts reach the database together.
    http_server.route("/jobs", body=jobs_payload(ITEMS), delay=0.3)
    with fault_env.engine.begin() as conn:
        return add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))


def _assert_collected_once(fault_env: FaultEnv, platform_id: int, attempts: int) -> None:
    history = runs_of(fault_env.engine, platform_id)
    assert [r.outcome for r in history] == ["success"] * attempts
    assert all(r.fetched == ITEMS for r in history)
    assert opportunity_count(fault_env.engine) == ITEMS
    assert inserted_total(fault_env.engine, platform_id) == ITEMS
    assert platform_row(fault_env.engine, platform_id).total_projects_collected == ITEMS


def test_same_message_three_times_in_a_row(fault_env: FaultEnv, platform_id: int) -> None:
    same = message(body(platform_id))
    for _ in range(3):
        assert collect([same]) == set()
    _assert_collected_once(fault_env, platform_id, 3)
    assert {r.message_id for r in runs_of(fault_env.engine, platform_id)} == {same["MessageId"]}


def test_same_body_three_times_in_one_batch_run_concurrently(fault_env: FaultEnv, platform_id: int) -> None:
    fault_env.set(COLLECTOR_CONCURRENCY="3")
    assert collect([message(body(platform_id)) for _ in range(3)]) == set()
    _assert_collected_once(fault_env, platform_id, 3)
    _assert_overlapped(fault_env, platform_id)


def _at_once(count: int, call: Callable[[], set[str]]) -> list[set[str]]:
    """Run ``call`` on ``count`` threads released together by a barrier."""
    start = threading.Barrier(count)

    def run() -> set[str]:
        start.wait(timeout=10)
        return call()

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run) for _ in range(count)]
        return [f.result(timeout=60) for f in futures]


def test_same_record_in_concurrent_invocations(fault_env: FaultEnv, platform_id: int) -> None:
    same = message(body(platform_id))
    assert _at_once(4, lambda: collect([same])) == [set()] * 4
    _assert_collected_once(fault_env, platform_id, 4)
    _assert_overlapped(fault_env, platform_id)


def test_same_body_in_separate_concurrent_batches(fault_env: FaultEnv, platform_id: int) -> None:
    fault_env.set(COLLECTOR_CONCURRENCY="2")
    assert _at_once(3, lambda: collect([message(body(platform_id)) for _ in range(2)])) == [set()] * 3
    _assert_collected_once(fault_env, platform_id, 6)
    _assert_overlapped(fault_env, platform_id)
