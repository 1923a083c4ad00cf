"""End to end in one process: the dispatcher and collector handlers, moto SQS (queue + DLQ with the
template's redrive settings), PostgreSQL and the local HTTP server serving the project's fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import collector_handler
import dispatcher_handler
import pytest
from sqlalchemy import Engine, func, select

from charlee_collector.store.tables import opportunities, platforms, runs
from charlee_collector_tools.local.handlers import LocalLambdaContext
from charlee_collector_tools.local.poller import Poller
from tests.support.aws import MAX_RECEIVE_COUNT, Queues
from tests.support.factories import add_platform

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sources"
EVENTS = Path(__file__).resolve().parents[2] / "events"


def dispatch(event: dict[str, Any]) -> dict[str, int]:
    return dispatcher_handler.handler(event, LocalLambdaContext("DispatcherFunction"))


def drain(queues: Queues) -> Poller:
    arn = queues.sqs.get_queue_attributes(QueueUrl=queues.url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    poller = Poller(queues.sqs, queues.url, arn, collector_handler.handler)
    poller.drain(timeout_seconds=60, idle_wait_seconds=0.05)
    return poller


def scheduled_event() -> dict[str, Any]:
    return json.loads((EVENTS / "scheduled.json").read_text())


@pytest.fixture
def seeded(pg_engine: Engine, http_server: Any) -> dict[str, int]:
    http_server.route_file("/wwr.rss", FIXTURES / "rss_wwr.xml", etag='"wwr-1"')
    http_server.route_file("/remoteok.json", FIXTURES / "remoteok.json")
    http_server.route("/broken.json", status=500, body=b"upstream exploded")
    with pg_engine.begin() as conn:
        return {
            "rss": add_platform(conn, source="rss", config={"url": http_server.url("/wwr.rss")}),
            "remoteok": add_platform(
                conn, source="remoteok", config={"url": http_server.url("/remoteok.json")}
            ),
            "broken": add_platform(conn, source="remotive", config={"url": http_server.url("/broken.json")}),
        }


def _count(engine: Engine, table: Any, platform_id: int) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count()).select_from(table).where(table.c.platform_id == platform_id)
            ).scalar_one()
        )


def test_schedule_to_rows_and_a_failing_platform_to_the_dlq(
    pipeline_env: None, pg_engine: Engine, queues: Queues, seeded: dict[str, int]
) -> None:
    assert dispatch(scheduled_event()) == {"due": 3, "dispatched": 3, "failed": 0}

    poller = drain(queues)

    assert _count(pg_engine, opportunities, seeded["rss"]) >= 2
    # The legal notice and the job without a title are not opportunities.
    assert _count(pg_engine, opportunities, seeded["remoteok"]) == 2
    with pg_engine.connect() as conn:
        state = {row.id: row for row in conn.execute(select(platforms))}
        outcomes = conn.execute(select(runs.c.platform_id, runs.c.outcome, runs.c.trigger)).all()
    assert state[seeded["rss"]].last_collection_at is not None
    assert state[seeded["rss"]].etag == '"wwr-1"'
    assert state[seeded["remoteok"]].last_collection_count == 2
    assert state[seeded["broken"]].last_collection_at is None
    # Five receives of one message are one failed collection for the platform's backoff.
    assert state[seeded["broken"]].consecutive_failures == 1
    assert "500" in state[seeded["broken"]].last_error
    assert {(seeded["rss"], "success", "schedule"), (seeded["remoteok"], "success", "schedule")} <= set(
        outcomes
    )
    assert [o for o in outcomes if o.platform_id == seeded["broken"]] == [
        (seeded["broken"], "failed", "schedule")
    ] * MAX_RECEIVE_COUNT

    dead = queues.receive_all(queues.dlq_url)
    assert [json.loads(m["Body"])["platform_id"] for m in dead] == [seeded["broken"]]
    assert json.loads(dead[0]["Body"])["trigger"] == "schedule"  # the body arrives intact
    assert poller.stats.received == 2 + MAX_RECEIVE_COUNT

    # A second tick finds nothing due: every platform moved its next collection forward.
    assert dispatch(scheduled_event()) == {"due": 0, "dispatched": 0, "failed": 0}


def test_duplicate_delivery_and_a_second_run_add_no_rows(
    pipeline_env: None, pg_engine: Engine, queues: Queues, seeded: dict[str, int]
) -> None:
    body = json.dumps({"platform_id": seeded["remoteok"]})
    for _ in range(3):
        queues.sqs.send_message(QueueUrl=queues.url, MessageBody=body)
    drain(queues)
    assert _count(pg_engine, opportunities, seeded["remoteok"]) == 2
    with pg_engine.connect() as conn:
        inserted = conn.execute(
            select(func.sum(runs.c.inserted)).where(runs.c.platform_id == seeded["remoteok"])
        ).scalar()
    assert inserted == 2  # counts stay right: the repeats inserted nothing


def test_on_demand_message_collects_a_platform_that_is_not_due(
    pipeline_env: None, pg_engine: Engine, queues: Queues, seeded: dict[str, int]
) -> None:
    dispatch(scheduled_event())
    drain(queues)  # everything collected: nothing is due now
    assert dispatch(scheduled_event())["due"] == 0
    before = _count(pg_engine, runs, seeded["rss"])

    queues.sqs.send_message(QueueUrl=queues.url, MessageBody=json.dumps({"platform_id": seeded["rss"]}))
    drain(queues)

    with pg_engine.connect() as conn:
        last = conn.execute(
            select(runs.c.outcome, runs.c.trigger)
            .where(runs.c.platform_id == seeded["rss"])
            .order_by(runs.c.id.desc())
        ).first()
    assert _count(pg_engine, runs, seeded["rss"]) == before + 1
    assert last == ("not_modified", "on_demand")  # the stored ETag made it a conditional GET


def test_dispatch_for_a_user_and_for_ids(pipeline_env: None, queues: Queues, seeded: dict[str, int]) -> None:
    assert dispatch({"user_id": 1})["dispatched"] == 3
    assert dispatch({"platform_ids": [seeded["rss"], 999_999]})["dispatched"] == 1
    bodies = [json.loads(m["Body"]) for m in queues.receive_all()]
    assert len(bodies) == 4
    assert all(b["trigger"] == "on_demand" and b["force"] for b in bodies)


def test_an_event_without_records_is_an_error(pipeline_env: None) -> None:
    from charlee_collector.core.errors import InvalidMessage

    for event in ({}, {"Records": []}):
        with pytest.raises(InvalidMessage, match="no Records"):
            collector_handler.handler(event, LocalLambdaContext("CollectorFunction"))


@pytest.mark.parametrize(
    ("event", "says"),
    [
        ({"Records": {"messageId": "m"}}, "no Records: expected an SQS batch"),
        ({"Records": ["{}"]}, r"Records\[0\] is str, not an SQS record"),
        ({"Records": [{"body": '{"platform_id": 1}'}]}, r"Records\[0\] has no messageId string"),
    ],
)
def test_an_event_that_is_not_an_sqs_batch_says_what_is_missing(
    pipeline_env: None, event: dict[str, object], says: str
) -> None:
    """A hand-made event (``sam local invoke``, a console test): one clear error, not a KeyError."""
    from charlee_collector.core.errors import InvalidMessage

    with pytest.raises(InvalidMessage, match=says):
        collector_handler.handler(event, LocalLambdaContext("CollectorFunction"))


def test_a_record_whose_body_is_not_text_fails_alone(pipeline_env: None, seeded: dict[str, int]) -> None:
    """Its batch mates are collected; a receive count that is not a count reads as the first."""
    good = {"messageId": "good", "body": json.dumps({"platform_id": seeded["rss"]}), "attributes": {}}
    odd = {"messageId": "odd", "body": None, "attributes": {"ApproximateReceiveCount": "many"}}
    answer = collector_handler.handler({"Records": [odd, good]}, LocalLambdaContext("CollectorFunction"))
    assert answer["batchItemFailures"] == [{"itemIdentifier": "odd"}]


def test_a_malformed_dispatcher_event_is_a_clear_error(pipeline_env: None) -> None:
    from charlee_collector.core.errors import InvalidMessage

    with pytest.raises(InvalidMessage, match="user_id"):
        dispatch({"user": 1})
