"""Huge id lists: a dispatcher event may name up to MAX_PLATFORM_IDS platforms, which are claimed
as one array parameter (one bind parameter per id would overflow pg8000's 16-bit parameter count), and the
process goes on collecting normally afterwards. A longer list is an invalid event, refused
before any SQL."""

from __future__ import annotations

import random
from typing import Any

import dispatcher_handler
import pytest
from sqlalchemy import Engine

from charlee_collector.app.messages import MAX_PLATFORM_IDS
from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import InvalidMessage
from charlee_collector.store.platforms import claim_platforms
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.faults.conftest import DatabaseSwitch, FaultEnv
from tests.faults.harness import (
    body,
    collect,
    drain,
    jobs_payload,
    json_api_config,
    message,
    platform_row,
    runs_of,
)
from tests.support.factories import add_platform, add_platforms
from tests.support.http_server import LocalHTTPServer

ITEMS = 3


def _dispatch(event: dict[str, Any]) -> dict[str, int]:
    return dispatcher_handler.handler(event, LocalLambdaContext("DispatcherFunction"))


def test_claims_of_any_length_take_each_existing_platform_once(pg_engine: Engine) -> None:
    existing_count = 2_500
    with pg_engine.begin() as conn:
        existing = add_platforms(conn, existing_count)
    wanted = existing + list(range(max(existing) + 1, max(existing) + 70_000)) + existing[:100]
    random.Random(7).shuffle(wanted)
    now = utcnow()

    with pg_engine.begin() as conn:
        claims = claim_platforms(conn, now=now, platform_ids=wanted)

    assert [c.platform_id for c in claims] == sorted(existing)
    assert all(c.claimed_until > now for c in claims)


def test_a_dispatcher_event_at_the_limit_enqueues_exactly_the_existing_platforms_and_the_process_keeps_working(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    http_server.route("/jobs", body=jobs_payload(ITEMS))
    with fault_env.engine.begin() as conn:
        existing = [
            add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
            for _ in range(5)
        ]
    unknown = range(max(existing) + 1, max(existing) + 1 + MAX_PLATFORM_IDS - len(existing))
    ids = [*unknown[: MAX_PLATFORM_IDS // 2], *existing[:3], *unknown[MAX_PLATFORM_IDS // 2 :], *existing[3:]]
    assert len(ids) == MAX_PLATFORM_IDS

    assert _dispatch({"platform_ids": ids}) == {"due": 5, "dispatched": 5, "failed": 0}

    # One message per existing platform, each collected; then ordinary messages in the same warm
    # process all succeed.
    assert fault_env.queues.depth() == 5
    running = drain(fault_env.queues)
    assert (running.stats.received, running.stats.succeeded, running.stats.failed) == (5, 5, 0)
    for _ in range(5):
        assert collect([message(body(platform_id)) for platform_id in existing]) == set()
    for platform_id in existing:
        assert [r.outcome for r in runs_of(fault_env.engine, platform_id)] == ["success"] * 6
        assert platform_row(fault_env.engine, platform_id).last_collection_at is not None


@pytest.mark.parametrize("count", [MAX_PLATFORM_IDS + 1, 10 * MAX_PLATFORM_IDS])
def test_a_longer_list_is_an_invalid_event_refused_before_any_sql(
    fault_env: FaultEnv, database_switch: DatabaseSwitch, count: int
) -> None:
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn)
    database_switch.cut()  # any SQL would now fail as a database error instead

    with pytest.raises(InvalidMessage, match=rf"1 to {MAX_PLATFORM_IDS} ids, got {count} ids") as refused:
        _dispatch({"platform_ids": [platform_id] * count})
    assert len(str(refused.value)) < 200  # the error does not echo the list

    database_switch.restore()
    assert fault_env.queues.depth() == 0
    assert platform_row(fault_env.engine, platform_id).next_collection_at is None
