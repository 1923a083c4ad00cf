"""Message contracts: what a person types works; anything else is a clear InvalidMessage."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import BigInteger, Column, Integer, MetaData, SmallInteger, String, Table

from charlee_collector.app.messages import (
    MAX_PLATFORM_IDS,
    PLATFORM_IDS,
    USER_IDS,
    DispatchRequest,
    IdRange,
    parse_collect_message,
    parse_dispatch_event,
    receive_count,
)
from charlee_collector.core.errors import InvalidMessage

INT_MAX, BIGINT_MAX = 2**31 - 1, 2**63 - 1


def test_a_typed_message_is_on_demand_and_forced() -> None:
    message = parse_collect_message('{"platform_id": 1}')
    assert (message.platform_id, message.trigger, message.force) == (1, "on_demand", True)


def test_scheduled_messages_are_not_forced_unless_said() -> None:
    assert parse_collect_message('{"platform_id": 2, "trigger": "schedule"}').force is False
    assert parse_collect_message('{"platform_id": 2, "trigger": "schedule", "force": true}').force is True


def test_unknown_fields_are_kept_aside_not_rejected() -> None:
    message = parse_collect_message('{"platform_id": 3, "priority": "high", "zz": 1}')
    assert message.unknown_fields == ["priority", "zz"]


def test_a_body_with_a_byte_order_mark_is_read() -> None:
    """RFC 8259 lets a reader ignore a BOM; some tools write one."""
    assert parse_collect_message('\ufeff{"platform_id": 7}').platform_id == 7


@pytest.mark.parametrize("body", [None, 7, {"platform_id": 1}, b'{"platform_id": 1}'])
def test_a_body_that_is_not_text_is_invalid(body: object) -> None:
    with pytest.raises(InvalidMessage, match="collect message body must be text"):
        parse_collect_message(body)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("attributes", "count"),
    [({"ApproximateReceiveCount": "3"}, 3), ({}, 1), (None, 1), ({"ApproximateReceiveCount": "abc"}, 1),
     ({"ApproximateReceiveCount": "0"}, 1), ({"ApproximateReceiveCount": "-2"}, 1), ({"ApproximateReceiveCount": "\u0663"}, 1),
     ({"ApproximateReceiveCount": 4}, 1), ({"ApproximateReceiveCount": "00"}, 1), ({"ApproximateReceiveCount": "9" * 5000}, 1)],
)  # fmt: skip
def test_the_receive_count_of_a_hand_made_record_is_1(attributes: object, count: int) -> None:
    assert receive_count(attributes) == count


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
        ('{"platform_id": 1.0}', "platform_id"),
        ('{"platform_id": 2147483648}', f"platform_id: .* from 1 to {INT_MAX}, got 2147483648"),
        ('{"platform_id": 100000000000000000000}', f"from 1 to {INT_MAX}"),
        ('{"platform_id": 9223372036854775808}', f"from 1 to {INT_MAX}"),
        ('{"platform_id": -2147483648}', f"from 1 to {INT_MAX}"),
        ('{"platform_id": 1e20}', f"from 1 to {INT_MAX}"),
        ('{"platform_id": ' + "9" * 5000 + "}", "not JSON: Exceeds the limit"),
        ('{"platform_id": 1, "trigger": "cron"}', "trigger"),
        ('{"platform_id": 1, "requested_at": "yesterday"}', "requested_at"),
        # Which one was meant? Readers differ (first or last): refused, the body kept in the DLQ.
        ('{"platform_id": 1, "platform_id": 2}', "ambiguous: the key 'platform_id' is given twice"),
        ('{"platform_id": 1, "force": true, "force": false}', "ambiguous: the key 'force' is given twice"),
        ('{"platform_id": 1, "x": {"a": 1, "a": 2}}', "ambiguous: the key 'a' is given twice"),
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
        ({"user_id": BIGINT_MAX}, DispatchRequest("user", user_id=BIGINT_MAX)),
        ({"platform_ids": [INT_MAX, 1]}, DispatchRequest("platforms", platform_ids=(INT_MAX, 1))),
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
        {"platform_ids": [1, 2.0]},
        {"platform_ids": [None]},
        {"platform_ids": [[1]]},
        {"platform_ids": {"1": 1}},
        {"user_id": BIGINT_MAX + 1},
        {"user_id": 10**20},
        {"user_id": None},
        {"platform_ids": [INT_MAX + 1]},
        {"platform_ids": [1, BIGINT_MAX]},
        {"platform_ids": 1},
        {"user_id": 1, "platform_ids": [1]},
        {"Records": []},
        # A scheduled event that also names a user or platforms: a whole tick is not what was asked.
        {"source": "aws.events", "detail-type": "Scheduled Event", "user_id": 5},
        {"source": "aws.scheduler", "platform_ids": [1]},
        {"detail-type": "Scheduled Event", "user_id": None},
    ],
)
def test_other_dispatcher_events_are_refused(event: object) -> None:
    with pytest.raises(InvalidMessage):
        parse_dispatch_event(event)


def test_the_largest_ids_are_those_of_the_columns() -> None:
    assert parse_collect_message(f'{{"platform_id": {INT_MAX}}}').platform_id == INT_MAX
    assert (PLATFORM_IDS.low, PLATFORM_IDS.high) == (1, INT_MAX)
    assert (USER_IDS.low, USER_IDS.high) == (1, BIGINT_MAX)


def test_id_ranges_follow_the_column_type() -> None:
    table = Table(
        "t",
        MetaData(),
        Column("small", SmallInteger),
        Column("int", Integer),
        Column("big", BigInteger),
        Column("name", String(10)),
    )
    assert [IdRange.of(table.c[name]).high for name in ("small", "int", "big")] == [
        2**15 - 1,
        INT_MAX,
        BIGINT_MAX,
    ]
    with pytest.raises(TypeError):
        IdRange.of(table.c.name)


@pytest.mark.parametrize("value", [0, -1, INT_MAX + 1, True, False, 1.0, "1", None, [1]])
def test_values_outside_an_id_range_are_not_in_it(value: object) -> None:
    assert value not in PLATFORM_IDS
    with pytest.raises(ValueError, match=f"thing must be an integer from 1 to {INT_MAX}"):
        PLATFORM_IDS.check(value, "thing")


def test_a_dispatcher_event_names_at_most_the_limit_of_ids() -> None:
    ids = list(range(1, MAX_PLATFORM_IDS + 1))
    assert len(parse_dispatch_event({"platform_ids": ids}).platform_ids) == MAX_PLATFORM_IDS
    with pytest.raises(InvalidMessage, match=f"1 to {MAX_PLATFORM_IDS} ids, got {MAX_PLATFORM_IDS + 1} ids"):
        parse_dispatch_event({"platform_ids": [*ids, 1]})


def test_errors_about_huge_events_stay_short() -> None:
    with pytest.raises(InvalidMessage) as refused:
        parse_dispatch_event({"platform_ids": "9" * 1_000_000})
    assert len(str(refused.value)) < 200
    with pytest.raises(InvalidMessage) as refused:
        parse_dispatch_event({"platform_ids": [1, 10**10_000]})  # too long for repr()
    assert str(refused.value).endswith(f"got an integer of {(10**10_000).bit_length()} bits")
