"""Repeated failures pause a platform; while paused, scheduled messages are skipped and the
dispatcher leaves it alone; an on-demand success resumes it (DESIGN section 3)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from charlee_collector.core.clock import utcnow
from charlee_collector.store.tables import platforms
from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    dispatch_scheduled,
    drain,
    jobs_payload,
    json_api_config,
    message,
    platform_row,
    runs_of,
    scheduled,
    send,
)
from tests.support.aws import MAX_RECEIVE_COUNT
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

PAUSE_AFTER = 3


def _make_due(fault_env: FaultEnv, platform_id: int) -> None:
    with fault_env.engine.begin() as conn:
        conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(next_collection_at=utcnow() - timedelta(minutes=1))
        )


def test_failures_pause_scheduled_runs_skip_and_on_demand_success_resumes(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    fault_env.set(PAUSE_AFTER_FAILURES=str(PAUSE_AFTER))
    http_server.route("/jobs", status=404)
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))

    for attempt in range(1, PAUSE_AFTER + 1):
        assert collect([message(scheduled(platform_id))]) == set()  # a 404 is acknowledged
        row = platform_row(fault_env.engine, platform_id)
        assert row.consecutive_failures == attempt
        assert (row.paused_at is not None) == (attempt == PAUSE_AFTER)
    paused = platform_row(fault_env.engine, platform_id)
    assert paused.last_error.startswith(f"paused after {PAUSE_AFTER} consecutive failures: ")
    assert "404" in paused.last_error

    # Paused: the dispatcher does not claim it even when its time has come ...
    _make_due(fault_env, platform_id)
    assert dispatch_scheduled()["due"] == 0
    # ... and a scheduled message already in flight is acknowledged as skipped, without a fetch.
    requests_before = len(http_server.requests)
    assert collect([message(scheduled(platform_id))]) == set()
    last = runs_of(fault_env.engine, platform_id)[-1]
    assert (last.outcome, last.trigger) == ("skipped", "schedule")
    assert last.error.startswith("platform paused: paused after 3 consecutive failures")
    assert len(http_server.requests) == requests_before
    assert platform_row(fault_env.engine, platform_id).consecutive_failures == PAUSE_AFTER

    # Someone fixes the source and asks for it by hand: the success resumes the platform.
    http_server.route("/jobs", body=jobs_payload(4))
    assert collect([message(body(platform_id))]) == set()
    resumed = platform_row(fault_env.engine, platform_id)
    assert resumed.paused_at is None
    assert resumed.consecutive_failures == 0
    assert resumed.last_error is None
    assert resumed.last_collection_count == 4
    assert [r.outcome for r in runs_of(fault_env.engine, platform_id)] == ["failed"] * PAUSE_AFTER + [
        "skipped",
        "success",
    ]
    assert runs_of(fault_env.engine, platform_id)[-1].trigger == "on_demand"

    # Back on the schedule: due again once its interval has passed.
    _make_due(fault_env, platform_id)
    assert dispatch_scheduled() == {"due": 1, "dispatched": 1, "failed": 0}


def test_a_failed_on_demand_run_does_not_resume(fault_env: FaultEnv, http_server: LocalHTTPServer) -> None:
    fault_env.set(PAUSE_AFTER_FAILURES="1")
    http_server.route("/jobs", status=404)
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
    collect([message(scheduled(platform_id))])
    paused_at = platform_row(fault_env.engine, platform_id).paused_at
    assert paused_at is not None

    collect([message(body(platform_id))])  # forced, runs, fails again

    row = platform_row(fault_env.engine, platform_id)
    assert row.paused_at == paused_at
    assert row.consecutive_failures == 2
    assert [r.outcome for r in runs_of(fault_env.engine, platform_id)] == ["failed", "failed"]


def test_redeliveries_count_once_and_pausing_stops_them(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    """A 5xx is retried by SQS, but one message's redeliveries count as one failure: the first
    message goes round to the DLQ having counted once. The second message's first failure
    pauses the platform, so its redelivery is skipped and acknowledged, not sent to the DLQ."""
    fault_env.set(PAUSE_AFTER_FAILURES="2")
    http_server.route("/jobs", status=500)
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))

    [first] = send(fault_env.queues, scheduled(platform_id))
    drain(fault_env.queues)
    assert [r.outcome for r in runs_of(fault_env.engine, platform_id)] == ["failed"] * MAX_RECEIVE_COUNT
    row = platform_row(fault_env.engine, platform_id)
    assert (row.consecutive_failures, row.paused_at) == (1, None)
    assert [m["MessageId"] for m in fault_env.queues.receive_all(fault_env.queues.dlq_url)] == [first]

    send(fault_env.queues, scheduled(platform_id))
    drain(fault_env.queues)
    outcomes = [r.outcome for r in runs_of(fault_env.engine, platform_id)]
    assert outcomes[MAX_RECEIVE_COUNT:] == ["failed", "skipped"]
    row = platform_row(fault_env.engine, platform_id)
    assert row.consecutive_failures == 2
    assert row.paused_at is not None
    assert fault_env.queues.depth() == 0
    assert fault_env.queues.depth(fault_env.queues.dlq_url) == 1  # still only the first message


def test_inactive_platform_scheduled_message_is_skipped(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(
            conn, source="json_api", active=False, config=json_api_config(http_server.url("/jobs"))
        )
    assert collect([message(scheduled(platform_id))]) == set()
    [run] = runs_of(fault_env.engine, platform_id)
    assert (run.outcome, run.error) == ("skipped", "platform inactive")
    assert http_server.requests == []
