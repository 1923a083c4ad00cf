"""Ids beyond their columns: a collect message or a dispatcher event naming an id its column
cannot hold (platform ids are INTEGER, user ids BIGINT) is an invalid message, refused before any
SQL and logged with the allowed range, never a database error retried as an outage.

The database is cut while the bad ids go through: had any reached SQL, it would fail as a
database error instead.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dispatcher_handler
import pytest

from charlee_collector.core.errors import InvalidMessage
from charlee_collector.observability.logger import logger
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.faults.conftest import DatabaseSwitch, FaultEnv
from tests.faults.harness import body, collect, drain, message, runs_of, send
from tests.support.factories import add_platform

INT_MAX = 2**31 - 1  # freelance_platforms.id
BIGINT_MAX = 2**63 - 1  # freelance_platforms.user_id
PLATFORM_RANGE = f"from 1 to {INT_MAX}"
USER_RANGE = f"from 1 to {BIGINT_MAX}"

BAD_PLATFORM_IDS = [INT_MAX + 1, 10**20, BIGINT_MAX, BIGINT_MAX + 1, 2**64, -(2**31), -1, 0]


def _dispatch(event: dict[str, Any]) -> dict[str, int]:
    return dispatcher_handler.handler(event, LocalLambdaContext("DispatcherFunction"))


@contextmanager
def _log_lines() -> Iterator[list[dict[str, Any]]]:
    """The handlers' JSON log lines written inside the block (filled in when it ends)."""
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    lines: list[dict[str, Any]] = []
    try:
        yield lines
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())


def test_collect_messages_with_ids_beyond_the_column_go_to_the_dlq_as_invalid(
    fault_env: FaultEnv, database_switch: DatabaseSwitch
) -> None:
    bodies = [body(platform_id) for platform_id in BAD_PLATFORM_IDS]
    message_ids = send(fault_env.queues, *bodies)
    database_switch.cut()

    with _log_lines() as logged:
        running = drain(fault_env.queues)

    assert running.stats.succeeded == 0
    dead = fault_env.queues.receive_all(fault_env.queues.dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(bodies)
    failures = [e for e in logged if e["level"] == "ERROR"]
    assert {e["message"] for e in failures} == {"invalid collect message"}  # no database error
    assert {e["message_id"] for e in failures} == set(message_ids)
    assert all(PLATFORM_RANGE in e["error"] for e in failures)


def test_the_largest_platform_id_is_valid_and_unknown(fault_env: FaultEnv) -> None:
    # Acknowledged as unknown (no such platform), as any absent id in range is.
    assert collect([message(body(INT_MAX))]) == set()
    assert runs_of(fault_env.engine, INT_MAX) == []


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"user_id": BIGINT_MAX + 1}, USER_RANGE),
        ({"user_id": 10**20}, USER_RANGE),
        ({"user_id": -1}, USER_RANGE),
        ({"user_id": 1.0}, USER_RANGE),
        ({"user_id": False}, USER_RANGE),
        ({"platform_ids": [INT_MAX + 1]}, rf"platform_ids\[0\] must be an integer {PLATFORM_RANGE}"),
        ({"platform_ids": [1, 2, 10**20]}, rf"platform_ids\[2\] must be an integer {PLATFORM_RANGE}"),
        ({"platform_ids": [1, BIGINT_MAX]}, rf"platform_ids\[1\] must be an integer {PLATFORM_RANGE}"),
        ({"platform_ids": [1, -5]}, rf"platform_ids\[1\] must be an integer {PLATFORM_RANGE}"),
        ({"platform_ids": [1, True]}, rf"platform_ids\[1\] must be an integer {PLATFORM_RANGE}"),
        ({"platform_ids": [1, "2"]}, rf"platform_ids\[1\] must be an integer {PLATFORM_RANGE}"),
    ],
)
def test_dispatcher_events_with_ids_beyond_the_column_are_invalid_before_any_sql(
    fault_env: FaultEnv, database_switch: DatabaseSwitch, event: dict[str, Any], says: str
) -> None:
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn)
    database_switch.cut()

    with pytest.raises(InvalidMessage, match=says):
        _dispatch(event)

    database_switch.restore()
    assert fault_env.queues.depth() == 0
    assert runs_of(fault_env.engine, platform_id) == []


def test_the_largest_ids_are_valid_dispatcher_events(fault_env: FaultEnv) -> None:
    with fault_env.engine.begin() as conn:
        add_platform(conn, user_id=BIGINT_MAX)
        add_platform(conn)
    assert _dispatch({"user_id": BIGINT_MAX}) == {"due": 1, "dispatched": 1, "failed": 0}
    assert _dispatch({"platform_ids": [INT_MAX]}) == {"due": 0, "dispatched": 0, "failed": 0}
