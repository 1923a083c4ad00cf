"""The message contracts (DESIGN section 4): collect messages and dispatcher events.

A collect message needs only ``platform_id`` so a person can type it; a typed message is an
on-demand request and is forced. Unknown fields are reported (and ignored) so messages in
flight survive a deploy that adds one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from charlee_collector.errors import InvalidMessage

Trigger = Literal["schedule", "on_demand"]


class CollectMessage(BaseModel):
    """Collect one platform now."""

    model_config = ConfigDict(extra="allow", frozen=True)

    platform_id: StrictInt = Field(gt=0)
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


def parse_collect_message(body: str) -> CollectMessage:
    """Validate an SQS body; InvalidMessage says what is wrong with it."""
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, TypeError) as exc:
        raise InvalidMessage(f"collect message is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage(f"collect message must be a JSON object, got {type(payload).__name__}")
    try:
        return CollectMessage.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'message'}: {e['msg']}" for e in exc.errors())
        raise InvalidMessage(f"collect message fails its schema: {problems}") from exc


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
        return DispatchRequest(kind="schedule")
    if set(event) == {"user_id"}:
        user_id = event["user_id"]
        if not _is_id(user_id):
            raise InvalidMessage(f"user_id must be a positive integer, got {user_id!r}")
        return DispatchRequest(kind="user", user_id=user_id)
    if set(event) == {"platform_ids"}:
        ids = event["platform_ids"]
        if not isinstance(ids, list) or not ids or not all(_is_id(i) for i in ids):
            raise InvalidMessage(f"platform_ids must be a non-empty list of positive integers, got {ids!r}")
        return DispatchRequest(kind="platforms", platform_ids=tuple(dict.fromkeys(ids)))
    raise InvalidMessage(
        'dispatcher accepts a scheduled event, {"user_id": N} or {"platform_ids": [N, ...]}; '
        f"got keys {sorted(event)}"
    )


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
