"""A dispatcher's claim the database lost track of: it expires with its lease, so a lost claim
costs a platform one tick, never a whole interval (DESIGN section 3).

The faults are real: the claim's COMMIT reaches PostgreSQL through a proxy that loses its reply
(the server committed, the dispatcher never hears it), and SQS refuses a send while the
database is cut off, so the release cannot be written. Then the next tick, one lease later,
claims the platform and sends it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from charlee_collector.app.dispatch import dispatch
from charlee_collector.app.messages import DispatchRequest
from charlee_collector.core.clock import utcnow
from charlee_collector.core.scheduling import DUE_SLACK
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.platforms import CLAIM_LEASE
from tests.faults.conftest import DatabaseSwitch, FaultEnv, ResettingProxy
from tests.faults.harness import platform_row
from tests.support.factories import add_platform

SCHEDULE = DispatchRequest("schedule")
SIX_HOURS = 6 * 60  # Remotive's interval: a claim lost for an interval is a lost quarter day


@pytest.fixture
def proxied_engine(fault_env: FaultEnv, resetting_proxy: ResettingProxy) -> Iterator[Engine]:
    """An engine of the test database whose connections go through ``resetting_proxy``."""
    engine = create_db_engine(resetting_proxy.url(fault_env.engine.url), pool_size=1)
    yield engine
    engine.dispose()


def _next_tick(env: FaultEnv, at: datetime) -> Any:
    return dispatch(env.engine, env.queues.sqs, env.queues.url, SCHEDULE, clock=lambda: at)


def _sent(env: FaultEnv) -> list[int]:
    import json

    return sorted(json.loads(m["Body"])["platform_id"] for m in env.queues.receive_all())


def test_a_claim_whose_commit_reply_was_lost_is_due_again_at_the_next_tick(
    fault_env: FaultEnv, resetting_proxy: ResettingProxy, proxied_engine: Engine
) -> None:
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="remotive", collection_interval_minutes=SIX_HOURS)
    claimed_at = utcnow()
    resetting_proxy.lose_reply_holding(b"COMMIT")

    with pytest.raises(DBAPIError):
        dispatch(
            proxied_engine, fault_env.queues.sqs, fault_env.queues.url, SCHEDULE, clock=lambda: claimed_at
        )

    assert resetting_proxy.replies_lost == 1
    assert _sent(fault_env) == []
    # The server did commit the claim: the platform is leased, not moved a whole interval on.
    assert platform_row(fault_env.engine, platform_id).next_collection_at == claimed_at + CLAIM_LEASE
    # Due again at the first tick the lease's end falls within (scheduling.DUE_SLACK).
    next_tick = claimed_at + CLAIM_LEASE - DUE_SLACK
    assert _next_tick(fault_env, next_tick - timedelta(seconds=1)).due == 0
    summary = _next_tick(fault_env, next_tick)
    assert (summary.due, summary.dispatched) == (1, 1)
    assert _sent(fault_env) == [platform_id]
    # Sent: now it moves one interval on.
    expected = next_tick + timedelta(minutes=SIX_HOURS)
    assert platform_row(fault_env.engine, platform_id).next_collection_at == expected


def test_a_send_sqs_refused_while_the_database_was_down_is_due_again_at_the_next_tick(
    fault_env: FaultEnv, database_switch: DatabaseSwitch
) -> None:
    with fault_env.engine.begin() as conn:
        ids = [add_platform(conn, source="remotive", collection_interval_minutes=SIX_HOURS) for _ in range(3)]
    sqs = fault_env.queues.sqs

    def database_gone_then_sqs_refuses(**_kwargs: Any) -> None:
        database_switch.cut()
        raise EndpointConnectionError(endpoint_url=fault_env.queues.url)

    claimed_at = utcnow()
    sqs.meta.events.register("before-call.sqs.SendMessageBatch", database_gone_then_sqs_refuses)
    try:
        with pytest.raises(DBAPIError):  # the release could not be written
            _next_tick(fault_env, claimed_at)
    finally:
        sqs.meta.events.unregister("before-call.sqs.SendMessageBatch", database_gone_then_sqs_refuses)
    database_switch.restore()

    assert _sent(fault_env) == []
    assert {platform_row(fault_env.engine, i).next_collection_at for i in ids} == {claimed_at + CLAIM_LEASE}
    summary = _next_tick(fault_env, claimed_at + CLAIM_LEASE)
    assert (summary.due, summary.dispatched, summary.failed) == (3, 3, 0)
    assert _sent(fault_env) == ids
