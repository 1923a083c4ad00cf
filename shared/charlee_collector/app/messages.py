"""The message contracts: collect messages and dispatcher events (docs/architecture.md, "Messages").

``parse_collect_message``: only ``platform_id`` is needed, so a person can type it; a typed message is
an on-demand request and is forced. Unknown fields are reported and ignored, so messages in flight
survive a deploy that adds one. ``parse_dispatch_event``: a tick, a user or at most
``MAX_PLATFORM_IDS`` platforms. Every id is checked against its column (``PLATFORM_IDS``,
``USER_IDS``) before any SQL: an id the column cannot hold is an invalid message (-> DLQ), not a
database failure retried five times.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictInt, ValidationError, model_validator
from sqlalchemy import BigInteger, Column, Integer, SmallInteger

from charlee_collector.core.errors import InvalidMessage
from charlee_collector.store.tables import platforms

Trigger = Literal["schedule", "on_demand"]

# The largest value of each integer column type, subclasses first (BigInteger is an Integer).
_COLUMN_MAX = ((BigInteger, 2**63 - 1), (SmallInteger, 2**15 - 1), (Integer, 2**31 - 1))


@dataclass(frozen=True)
class IdRange:
    """The ids one column can hold, from 1 up: what a message (or a command) may name."""

    low: int
    high: int

    @classmethod
    def of(cls, column: Column[Any]) -> IdRange:
        """The positive ids that fit ``column``'s integer type."""
        for kind, high in _COLUMN_MAX:
            if isinstance(column.type, kind):
                return cls(1, high)
        raise TypeError(f"{column} is not an integer column")

    def __contains__(self, value: object) -> bool:
        # bool is an int to Python, and 1.0 == 1: neither is an id a person meant.
        return type(value) is int and self.low <= value <= self.high

    def check(self, value: object, what: str) -> int:
        """``value`` when it is an id in range; ValueError naming ``what`` and the range otherwise."""
        if isinstance(value, int) and value in self:
            return value
        raise ValueError(f"{what} must be an integer from {self.low} to {self.high}, got {_short(value)}")


PLATFORM_IDS = IdRange.of(platforms.c.id)
USER_IDS = IdRange.of(platforms.c.user_id)
# Claims take any count of ids; this bounds one invocation's work (a message per existing
# platform, sent within the dispatcher's timeout) and its event (~1.1 MB of ids, under Lambda's
# 6 MB), far above any real list.
MAX_PLATFORM_IDS = 100_000


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error must not echo a megabyte event."""
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"an integer of {value.bit_length()} bits"  # repr would be long, or refused
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _platform_id(value: object) -> int:
    return PLATFORM_IDS.check(value, "platform_id")


# Checked before pydantic's own int validation, so the error names the range.
PlatformId = Annotated[StrictInt, BeforeValidator(_platform_id)]


class CollectMessage(BaseModel):
    """Collect one platform now."""

    model_config = ConfigDict(extra="allow", frozen=True)

    platform_id: PlatformId
    trigger: Trigger = "on_demand"
    force: bool | None = None
    requested_at: datetime | None = None

    @model_validator(mode="after")
    def _on_demand_is_forced(self) -> CollectMessage:
        # A person who sends {"platform_id": 1} wants it collected now, due or not.
        if self.force is None:
            object.__setattr__(self, "force", self.trigger == "on_demand")
        return self

    @property
    def unknown_fields(self) -> list[str]:
        """Fields this version does not know (logged, then ignored)."""
        return sorted(self.model_extra or {})

    def to_body(self) -> str:
        """The JSON body as the dispatcher sends it."""
        return self.model_dump_json(exclude_none=True)


class DuplicateKey(ValueError):
    """A JSON object names one key twice: which value was meant is not known."""


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``' object_pairs_hook: a key given twice is an error, never silently the last
    value (another reader of the same text may take the first)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKey(f"the key {key[:100]!r} is given twice")
        found[key] = value
    return found


def parse_collect_message(body: str) -> CollectMessage:
    """Validate an SQS body; InvalidMessage says what is wrong with it."""
    if not isinstance(body, str):
        raise InvalidMessage(f"collect message body must be text, got {type(body).__name__}")
    try:
        # RFC 8259 lets a reader ignore a byte order mark; some tools write one.
        payload = json.loads(body.removeprefix("\ufeff"), object_pairs_hook=unique_keys)
    except DuplicateKey as exc:
        raise InvalidMessage(f"collect message is ambiguous: {exc}") from exc
    except (ValueError, TypeError) as exc:
        # ValueError besides JSONDecodeError: a number of more than 4,300 digits.
        raise InvalidMessage(f"collect message is not JSON: {str(exc)[:200]}") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage(f"collect message must be a JSON object, got {type(payload).__name__}")
    try:
        return CollectMessage.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(f"collect message fails its schema: {problems}") from exc


def check_sqs_batch(event: Any) -> None:
    """The collector's event must be an SQS batch (Lambda's shape, also what ``sam local invoke``
    and a console test must send); InvalidMessage says what is missing instead of a KeyError."""
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list) or not records:
        raise InvalidMessage("collector event has no Records: expected an SQS batch")
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidMessage(
                f"collector event: Records[{index}] is {type(record).__name__}, not an SQS record"
            )
        # The id is how a failed record is reported back; a bad body only fails its own record.
        if not isinstance(record.get("messageId"), str):
            raise InvalidMessage(
                f"collector event: Records[{index}] has no messageId string: not an SQS record"
            )


def receive_count(attributes: Any) -> int:
    """The record's ApproximateReceiveCount (1 when it is absent or not a count: a hand-made event)."""
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    if isinstance(count, str) and count.isascii() and count.isdigit() and len(count) <= 9:
        return max(int(count), 1)
    return 1


@dataclass(frozen=True)
class DispatchRequest:
    """What the dispatcher was asked to do: the scheduled tick, one user's platforms, or some ids."""

    kind: Literal["schedule", "user", "platforms"]
    user_id: int | None = None
    platform_ids: tuple[int, ...] = ()


_SCHEDULE_SOURCES = {"aws.events", "aws.scheduler"}


def parse_dispatch_event(event: Any) -> DispatchRequest:
    """Read a dispatcher event; anything but the three accepted shapes is InvalidMessage."""
    if not isinstance(event, dict):
        raise InvalidMessage(f"dispatcher event must be a JSON object, got {type(event).__name__}")
    if event.get("detail-type") == "Scheduled Event" or event.get("source") in _SCHEDULE_SOURCES:
        if "user_id" in event or "platform_ids" in event:
            # A whole tick for someone who asked for one user or a few platforms is no answer.
            raise InvalidMessage(
                "dispatcher event is both a scheduled event and a request for "
                f"{'user_id' if 'user_id' in event else 'platform_ids'}: send one or the other"
            )
        return DispatchRequest(kind="schedule")
    try:
        if set(event) == {"user_id"}:
            return DispatchRequest(kind="user", user_id=USER_IDS.check(event["user_id"], "user_id"))
        if set(event) == {"platform_ids"}:
            return DispatchRequest(kind="platforms", platform_ids=_platform_ids(event["platform_ids"]))
    except ValueError as exc:
        raise InvalidMessage(f"dispatcher event: {exc}") from exc
    raise InvalidMessage(
        'dispatcher accepts a scheduled event, {"user_id": N} or {"platform_ids": [N, ...]}; '
        f"got keys {_short(sorted(event))}"
    )


def _platform_ids(ids: Any) -> tuple[int, ...]:
    """The distinct ids of a ``platform_ids`` list, in order; ValueError says what is wrong."""
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_PLATFORM_IDS:
        size = f"{len(ids)} ids" if isinstance(ids, list) else _short(ids)
        raise ValueError(f"platform_ids must be a list of 1 to {MAX_PLATFORM_IDS} ids, got {size}")
    for n, value in enumerate(ids):
        if value not in PLATFORM_IDS:
            PLATFORM_IDS.check(value, f"platform_ids[{n}]")  # raises, naming the entry
    return tuple(dict.fromkeys(ids))
