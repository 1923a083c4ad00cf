"""OpportunitiesCollected end to end: the collector handler over moto SQS, PostgreSQL, the local
HTTP server as the platform, and moto EventBridge with the template's rule into a queue."""

from __future__ import annotations

import json
from typing import Any

import collector_handler
import dispatcher_handler
import pytest
from sqlalchemy import Engine, select

from charlee_collector.app import runtime
from charlee_collector.store.tables import event_outbox, opportunities
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.integration.test_observability import jobs_payload, json_api
from tests.support.aws import Bus
from tests.support.factories import add_platform


def collect(platform_id: int) -> dict[str, Any]:
    """One SQS record for the collector handler, as the event source would deliver it."""
    record = {
        "messageId": f"m-{platform_id}",
        "receiptHandle": "r",
        "body": json.dumps({"platform_id": platform_id}),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:collect",
        "awsRegion": "us-east-1",
    }
    return collector_handler.handler({"Records": [record]}, LocalLambdaContext("CollectorFunction"))


def tick() -> dict[str, int]:
    return dispatcher_handler.handler({"user_id": 987_654}, LocalLambdaContext("DispatcherFunction"))


@pytest.fixture
def platform(pg_engine: Engine, http_server: Any, pipeline_env: None, event_bus: Bus) -> int:
    http_server.route("/jobs.json", body=jobs_payload(("a", "Job A"), ("b", "Job B")))
    with pg_engine.begin() as conn:
        return add_platform(
            conn, name="We Work Remotely", source="json_api", config=json_api(http_server.url("/jobs.json"))
        )


def _ids(engine: Engine, *external_ids: str) -> list[int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(opportunities.c.id).where(opportunities.c.external_id.in_(external_ids)).order_by("id")
        )
        return list(rows.scalars())


def _outbox(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(event_outbox).order_by(event_outbox.c.id)))


def test_new_items_send_one_event_with_exactly_them_and_a_second_run_none(
    platform: int, pg_engine: Engine, event_bus: Bus, http_server: Any
) -> None:
    assert collect(platform) == {"batchItemFailures": []}

    (event,) = event_bus.delivered()
    assert (event["source"], event["detail-type"]) == ("charlee.collector", "OpportunitiesCollected")
    detail = event["detail"]
    assert detail["platform_id"] == platform and detail["platform"] == {
        "name": "We Work Remotely",
        "source": "json_api",
    }
    assert detail["counts"] == {"fetched": 2, "inserted": 2, "updated": 0}
    assert detail["truncated"] is False
    assert [(o["id"], o["external_id"], o["change"]) for o in detail["opportunities"]] == list(
        zip(_ids(pg_engine, "a", "b"), ["a", "b"], ["new", "new"], strict=True)
    )
    assert (
        detail["summary"]
        == "2 new on We Work Remotely: Job A https://example.org/a, Job B https://example.org/b"
    )
    (row,) = _outbox(pg_engine)
    assert (row.event_id, row.attempts, row.last_error) == (detail["event_id"], 1, None)
    assert row.published_at is not None

    assert collect(platform) == {"batchItemFailures": []}  # the same items again
    assert event_bus.delivered() == []
    assert len(_outbox(pg_engine)) == 1
    tick()
    assert event_bus.delivered() == []  # nothing pending: the tick publishes nothing again


def test_a_changed_item_sends_one_event_marked_updated(
    platform: int, pg_engine: Engine, event_bus: Bus, http_server: Any
) -> None:
    collect(platform)
    event_bus.delivered()
    http_server.route("/jobs.json", body=jobs_payload(("a", "Job A, now remote"), ("b", "Job B")))

    collect(platform)

    (event,) = event_bus.delivered()
    detail = event["detail"]
    assert detail["counts"] == {"fetched": 2, "inserted": 0, "updated": 1}
    (item,) = detail["opportunities"]
    assert (item["id"], item["title"], item["change"]) == (
        _ids(pg_engine, "a")[0],
        "Job A, now remote",
        "updated",
    )
    assert detail["summary"].startswith("1 updated on We Work Remotely: Job A, now remote")


def test_eventbridge_down_leaves_the_event_pending_and_the_next_tick_publishes_it_once(
    platform: int, pg_engine: Engine, event_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing listens on port 9 of this machine: every PutEvents fails to connect.
    monkeypatch.setenv("AWS_ENDPOINT_URL_EVENTBRIDGE", "http://127.0.0.1:9")
    runtime.reset()

    assert collect(platform) == {"batchItemFailures": []}  # the collection itself succeeded

    (row,) = _outbox(pg_engine)
    assert row.published_at is None and row.attempts == 1
    assert "PutEvents failed" in row.last_error
    assert event_bus.delivered() == []

    monkeypatch.delenv("AWS_ENDPOINT_URL_EVENTBRIDGE")
    runtime.reset()
    tick()
    (event,) = event_bus.delivered()
    assert event["detail"]["event_id"] == row.event_id
    tick()
    assert event_bus.delivered() == []
    (row,) = _outbox(pg_engine)
    assert row.published_at is not None and row.attempts == 2


def test_the_outbox_waits_for_a_bus_when_none_is_configured(
    platform: int, pg_engine: Engine, event_bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("EVENT_BUS_NAME")
    runtime.reset()
    assert collect(platform) == {"batchItemFailures": []}
    (row,) = _outbox(pg_engine)
    assert row.published_at is None and row.attempts == 0

    monkeypatch.setenv("EVENT_BUS_NAME", event_bus.name)
    runtime.reset()
    tick()  # the collector's lease (outbox.LEASE) still holds the row
    assert event_bus.delivered() == []
