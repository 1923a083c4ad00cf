"""The dispatcher against PostgreSQL and moto SQS: one message per due platform, never twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select, update

from charlee_collector.db import create_db_engine
from charlee_collector.dispatch import dispatch
from charlee_collector.messages import DispatchRequest, parse_collect_message
from charlee_collector.models import platforms, utcnow
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


def test_sqlite_dispatch_works_too(sqlite_engine: Engine, queues: Queues) -> None:
    with sqlite_engine.begin() as conn:
        ids = add_platforms(conn, 4)
        conn.execute(update(platforms).where(platforms.c.id == ids[0]).values(paused_at=utcnow()))
    assert dispatch(sqlite_engine, queues.sqs, queues.url, SCHEDULE).dispatched == 3
