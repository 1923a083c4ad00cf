"""The dispatcher against PostgreSQL and moto SQS: one message per due platform, never twice."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from charlee_collector.app.dispatch import SEND_THREADS, dispatch
from charlee_collector.app.messages import DispatchRequest, parse_collect_message
from charlee_collector.app.runtime import Runtime
from charlee_collector.core.clock import utcnow
from charlee_collector.core.settings import Settings
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import platforms
from tests.support.aws import Queues
from tests.support.factories import add_platform, add_platforms

SCHEDULE = DispatchRequest("schedule")


def _bodies(queues: Queues) -> list[dict[str, Any]]:
    return [json.loads(m["Body"]) for m in queues.receive_all()]


def test_every_due_platform_gets_one_message_and_a_second_tick_none(
    pg_engine: Engine, queues: Queues
) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 25)
        add_platform(conn, active=False)
        add_platform(conn, next_collection_at=utcnow() + timedelta(hours=1))

    summary = dispatch(pg_engine, queues.sqs, queues.url, SCHEDULE, batch_size=10)

    assert summary.as_dict() == {"due": 25, "dispatched": 25, "failed": 0}
    bodies = _bodies(queues)
    assert sorted(b["platform_id"] for b in bodies) == sorted(ids)
    assert all(parse_collect_message(json.dumps(b)).trigger == "schedule" for b in bodies)
    assert not any(parse_collect_message(json.dumps(b)).force for b in bodies)
    assert dispatch(pg_engine, queues.sqs, queues.url, SCHEDULE).as_dict() == {
        "due": 0,
        "dispatched": 0,
        "failed": 0,
    }


def test_on_demand_for_a_user_ignores_due_ness_and_forces(pg_engine: Engine, queues: Queues) -> None:
    with pg_engine.begin() as conn:
        later = utcnow() + timedelta(hours=3)
        mine = [
            add_platform(conn, user_id=7, next_collection_at=later),
            add_platform(conn, user_id=7, auto_collect=False),
        ]
        add_platform(conn, user_id=7, active=False)
        add_platform(conn, user_id=8)

    summary = dispatch(pg_engine, queues.sqs, queues.url, DispatchRequest("user", user_id=7))

    assert summary.dispatched == 2
    bodies = _bodies(queues)
    assert sorted(b["platform_id"] for b in bodies) == sorted(mine)
    assert all(b["trigger"] == "on_demand" and b["force"] is True for b in bodies)


def test_on_demand_for_ids(pg_engine: Engine, queues: Queues) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 3, next_collection_at=utcnow() + timedelta(days=1))
    summary = dispatch(
        pg_engine, queues.sqs, queues.url, DispatchRequest("platforms", platform_ids=(ids[0], ids[2], 999))
    )
    assert summary.as_dict() == {"due": 2, "dispatched": 2, "failed": 0}
    assert sorted(b["platform_id"] for b in _bodies(queues)) == [ids[0], ids[2]]


class _RefusingSqs:
    """SQS that accepts some entries and reports the others failed, as SendMessageBatch can."""

    def __init__(self, real: Any, refuse: set[str]) -> None:
        self.real, self.refuse = real, refuse

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        kept = [e for e in Entries if e["Id"] not in self.refuse]
        failed = [
            {"Id": e["Id"], "Code": "InternalError", "SenderFault": False}
            for e in Entries
            if e["Id"] in self.refuse
        ]
        response = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_entries_that_fail_to_send_are_released_for_the_next_tick(pg_engine: Engine, queues: Queues) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 12)
    refused = {str(ids[0]), str(ids[11])}

    summary = dispatch(pg_engine, _RefusingSqs(queues.sqs, refused), queues.url, SCHEDULE)

    assert summary.as_dict() == {"due": 12, "dispatched": 10, "failed": 2}
    with pg_engine.connect() as conn:
        next_at = dict(conn.execute(select(platforms.c.id, platforms.c.next_collection_at)).all())
    assert next_at[ids[0]] is None and next_at[ids[11]] is None  # released: due again at once
    assert all(next_at[i] is not None for i in ids[1:11])
    again = dispatch(pg_engine, queues.sqs, queues.url, SCHEDULE)
    assert again.dispatched == 2
    assert len(_bodies(queues)) == 12


def test_a_queue_that_refuses_everything_releases_everything(pg_engine: Engine, queues: Queues) -> None:
    with pg_engine.begin() as conn:
        add_platforms(conn, 5)
    summary = dispatch(pg_engine, queues.sqs, queues.url + "-missing", SCHEDULE)
    assert summary.as_dict() == {"due": 5, "dispatched": 0, "failed": 5}
    with pg_engine.connect() as conn:
        assert conn.execute(select(platforms.c.next_collection_at)).scalars().all() == [None] * 5


def test_no_time_left_claims_nothing(pg_engine: Engine, queues: Queues) -> None:
    with pg_engine.begin() as conn:
        add_platforms(conn, 3)
    summary = dispatch(pg_engine, queues.sqs, queues.url, SCHEDULE, time_left_ms=lambda: 500, margin_ms=1000)
    assert summary.due == 0
    assert queues.depth() == 0


def test_an_unreachable_database_is_a_clear_error_and_nothing_is_enqueued(queues: Queues) -> None:
    from sqlalchemy.exc import DBAPIError

    dead = create_db_engine("postgresql+pg8000://postgres@127.0.0.1:9/none")
    with pytest.raises(DBAPIError):
        dispatch(dead, queues.sqs, queues.url, SCHEDULE)
    assert queues.depth() == 0


class _ThreadNotingSqs:
    """The moto client, noting the thread that made each SendMessageBatch call."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.threads: list[threading.Thread] = []  # kept, so no thread's identity is reused
        self._lock = threading.Lock()

    def send_message_batch(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.threads.append(threading.current_thread())
        return self.real.send_message_batch(**kwargs)


def test_one_invocation_sends_every_claim_from_one_thread_pool(pg_engine: Engine, queues: Queues) -> None:
    claims = 2 * SEND_THREADS  # more claims than a pool has threads
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 2 * claims)
    sqs = _ThreadNotingSqs(queues.sqs)

    summary = dispatch(pg_engine, sqs, queues.url, SCHEDULE, batch_size=2)

    assert summary.as_dict() == {"due": len(ids), "dispatched": len(ids), "failed": 0}
    assert len(sqs.threads) == claims
    # A pool built per claim would bring new threads for every claim.
    assert len(set(sqs.threads)) <= SEND_THREADS
    assert sorted(b["platform_id"] for b in _bodies(queues)) == sorted(ids)


def _claimed(engine: Engine) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(platforms).where(platforms.c.next_collection_at.is_not(None))
        return int(conn.execute(query).scalar_one())


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether ``condition`` comes true within ``seconds`` (checked every 10 ms)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


class _OverlapProbe(_RefusingSqs):
    """Refuses some entries; its first call (claim 1) waits until claim 2 is committed."""

    def __init__(self, real: Any, refuse: set[str], engine: Engine, second_claim_at: int) -> None:
        super().__init__(real, refuse)
        self.engine, self.second_claim_at = engine, second_claim_at
        self.overlapped: bool | None = None

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        if self.overlapped is None:
            self.overlapped = _within(20, lambda: _claimed(self.engine) >= self.second_claim_at)
        return super().send_message_batch(QueueUrl=QueueUrl, Entries=Entries)


def test_the_next_claim_overlaps_the_sends_and_unsent_claims_are_released_never_sent_twice(
    pg_engine: Engine, queues: Queues
) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 50)
    # Claims are taken oldest first, then by id: claim 2 is ids[10:20].
    refused = {str(ids[12]), str(ids[15])}
    sqs = _OverlapProbe(queues.sqs, refused, pg_engine, second_claim_at=20)

    summary = dispatch(pg_engine, sqs, queues.url, SCHEDULE, batch_size=10)

    assert sqs.overlapped, "claim 2 was not taken while claim 1's sends were in flight"
    # Claim 3 was taken while claim 2's sends were failing: it is sent, then the loop stops.
    assert summary.as_dict() == {"due": 30, "dispatched": 28, "failed": 2}
    with pg_engine.connect() as conn:
        next_at = dict(conn.execute(select(platforms.c.id, platforms.c.next_collection_at)).all())
    assert [i for i in ids if next_at[i] is None] == [ids[12], ids[15], *ids[30:]]
    assert dispatch(pg_engine, queues.sqs, queues.url, SCHEDULE).as_dict() == {
        "due": 22,
        "dispatched": 22,
        "failed": 0,
    }
    assert sorted(b["platform_id"] for b in _bodies(queues)) == sorted(ids)  # each exactly once


def test_short_time_takes_no_next_claim_and_the_one_taken_is_sent_before_returning(
    pg_engine: Engine, queues: Queues
) -> None:
    with pg_engine.begin() as conn:
        ids = add_platforms(conn, 30)
    time_left = iter([60_000])  # enough for one claim, then short

    summary = dispatch(
        pg_engine,
        queues.sqs,
        queues.url,
        SCHEDULE,
        batch_size=10,
        time_left_ms=lambda: next(time_left, 500),
        margin_ms=1_000,
    )

    assert summary.as_dict() == {"due": 10, "dispatched": 10, "failed": 0}
    assert sorted(b["platform_id"] for b in _bodies(queues)) == ids[:10]
    assert _claimed(pg_engine) == 10


def test_the_runtime_sqs_client_pools_a_connection_per_send_thread(aws_env: None) -> None:
    runtime = Runtime(Settings())
    assert runtime.sqs.meta.config.max_pool_connections == SEND_THREADS
