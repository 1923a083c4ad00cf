"""events/*.json are what Lambda would send (the shapes `sam local invoke -e` and `make invoke` take).

The event shapes are checked with Powertools' own parser models; the payloads with the
package's message parsers, so each file says what the handlers will make of it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SqsModel

from charlee_collector.app.messages import parse_collect_message, parse_dispatch_event
from charlee_collector.core.errors import InvalidMessage
from tests.support.cfn_yaml import ROOT

EVENTS = ROOT / "events"
SQS_EVENTS = ["sqs_collect_one.json", "sqs_collect_mixed.json", "sqs_on_demand.json"]
EXPECTED = {
    "scheduled.json",
    "dispatch_user.json",
    "dispatch_platform_ids.json",
    "migrate.json",
    *SQS_EVENTS,
}


def load(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def test_every_event_file_is_known_and_valid_json() -> None:
    # env.*.json are `sam local invoke --env-vars` files, not events (tests/unit/test_sam_local_env.py).
    names = {path.name for path in EVENTS.iterdir() if path.is_file() and not path.name.startswith("env.")}
    assert names == EXPECTED, "a new event file needs its shape checked here"
    for name in names:
        assert isinstance(load(name), dict), name


def test_scheduled_is_an_eventbridge_scheduled_event() -> None:
    event = load("scheduled.json")
    model = EventBridgeModel.model_validate(event)
    assert (model.detail_type, model.source) == ("Scheduled Event", "aws.events")
    assert parse_dispatch_event(event).kind == "schedule"


def test_dispatch_by_user() -> None:
    event = load("dispatch_user.json")
    assert event == {"user_id": 1}
    request = parse_dispatch_event(event)
    assert (request.kind, request.user_id) == ("user", 1)


def test_dispatch_by_platform_ids() -> None:
    event = load("dispatch_platform_ids.json")
    assert event == {"platform_ids": [1, 2]}
    request = parse_dispatch_event(event)
    assert (request.kind, request.platform_ids) == ("platforms", (1, 2))


def test_migrate_takes_an_empty_event() -> None:
    assert load("migrate.json") == {}


@pytest.mark.parametrize("name", SQS_EVENTS)
def test_sqs_events_look_like_what_lambda_sends(name: str) -> None:
    event = load(name)
    SqsModel.model_validate(event)
    records = event["Records"]
    assert len({r["messageId"] for r in records}) == len(records)
    for record in records:
        assert record["eventSource"] == "aws:sqs"
        assert record["awsRegion"] == "us-east-1"
        assert record["eventSourceARN"].startswith("arn:aws:sqs:us-east-1:123456789012:")
        assert "CollectQueue" in record["eventSourceARN"]
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1


def bodies(name: str) -> list[str]:
    return [record["body"] for record in load(name)["Records"]]


def test_collect_one_is_a_scheduled_message_for_platform_1() -> None:
    (body,) = bodies("sqs_collect_one.json")
    message = parse_collect_message(body)
    assert (message.platform_id, message.trigger, message.force) == (1, "schedule", False)


def test_on_demand_is_a_forced_message_for_platform_1() -> None:
    (body,) = bodies("sqs_on_demand.json")
    message = parse_collect_message(body)
    assert (message.platform_id, message.trigger, message.force) == (1, "on_demand", True)


def classify(body: str) -> str:
    try:
        message = parse_collect_message(body)
    except InvalidMessage as exc:
        return "not json" if "not JSON" in str(exc) else "wrong schema"
    return f"platform {message.platform_id}"


def test_mixed_batch_holds_one_of_each_case() -> None:
    # The valid record and the unknown platform are acknowledged; the other two fail (-> DLQ).
    cases = [classify(body) for body in bodies("sqs_collect_mixed.json")]
    assert cases == ["platform 1", "not json", "wrong schema", "platform 999999"]
    assert bodies("sqs_collect_mixed.json")[1] == "not json"
    assert json.loads(bodies("sqs_collect_mixed.json")[2]) == {"platform": "x"}


def test_event_files_end_with_a_newline() -> None:
    for path in Path(EVENTS).glob("*.json"):
        assert path.read_text(encoding="utf-8").endswith("\n"), path.name
