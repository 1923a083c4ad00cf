"""Message contracts: what a person types works; anything else is a clear InvalidMessage."""

from __future__ import annotations

import json

import pytest

from charlee_collector.errors import InvalidMessage
from charlee_collector.messages import DispatchRequest, parse_collect_message, parse_dispatch_event


def test_a_typed_message_is_on_demand_and_forced() -> None:
    message = parse_collect_message('{"platform_id": 1}')
    assert (message.platform_id, message.trigger, message.force) == (1, "on_demand", True)


def test_scheduled_messages_are_not_forced_unless_said() -> None:
    assert parse_collect_message('{"platform_id": 2, "trigger": "schedule"}').force is False
    assert parse_collect_message('{"platform_id": 2, "trigger": "schedule", "force": true}').force is True


def test_unknown_fields_are_kept_aside_not_rejected() -> None:
    message = parse_collect_message('{"platform_id": 3, "priority": "high", "zz": 1}')
    assert message.unknown_fields == ["priority", "zz"]


def test_dispatcher_body_round_trips() -> None:
    message = parse_collect_message(
        '{"platform_id": 4, "trigger": "schedule", "requested_at": "2026-11-29T07:00:00Z"}'
    )
    again = parse_collect_message(message.to_body())
    assert again == message
    assert json.loads(message.to_body())["platform_id"] == 4


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not json", "not JSON"),
        ("", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('"1"', "JSON object"),
        ("{}", "platform_id"),
        ('{"platform_id": "1"}', "platform_id"),
        ('{"platform_id": 0}', "platform_id"),
        ('{"platform_id": true}', "platform_id"),
        ('{"platform_id": 1.5}', "platform_id"),
        ('{"platform_id": 1, "trigger": "cron"}', "trigger"),
        ('{"platform_id": 1, "requested_at": "yesterday"}', "requested_at"),
    ],
)
def test_bad_collect_messages_say_what_is_wrong(body: str, says: str) -> None:
    with pytest.raises(InvalidMessage, match=says):
        parse_collect_message(body)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}},
            DispatchRequest("schedule"),
        ),
        ({"source": "aws.scheduler"}, DispatchRequest("schedule")),
        ({"user_id": 7}, DispatchRequest("user", user_id=7)),
        ({"platform_ids": [3, 1, 3]}, DispatchRequest("platforms", platform_ids=(3, 1))),
    ],
)
def test_dispatcher_events(event: dict[str, object], expected: DispatchRequest) -> None:
    assert parse_dispatch_event(event) == expected


@pytest.mark.parametrize(
    "event",
    [
        {},
        [],
        {"user_id": "7"},
        {"user_id": 0},
        {"user_id": True},
        {"platform_ids": []},
        {"platform_ids": [1, "2"]},
        {"platform_ids": 1},
        {"user_id": 1, "platform_ids": [1]},
        {"Records": []},
    ],
)
def test_other_dispatcher_events_are_refused(event: object) -> None:
    with pytest.raises(InvalidMessage):
        parse_dispatch_event(event)
