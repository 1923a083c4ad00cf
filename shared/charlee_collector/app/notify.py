"""Instant alerts for a batch of OpportunitiesCollected events: match, claim, send, record.

The events come from NotificationsQueue, at least once and batched by the queue for up to a
minute (template.yaml, NotifierFunction's ``MaximumBatchingWindowInSeconds``): each enabled
instant rule of each user gets **one** message for what the whole batch brought it, so a burst is
one message. For each rule: the new opportunities of the batch that repeat no earlier job
(``duplicate_of`` NULL) and match it; then, per rule, claim, send and record (``app/alert_delivery.py``); the events that brought what a channel
refused are reported failed, so SQS delivers them again (unless the refusal disabled the rule).

At most once to the person: a crash between the send and its record leaves claims that are never sent again
(the alert may be lost, never doubled). Where each failure goes: an event that is not an
OpportunitiesCollected event -> failed (the DLQ after the queue's receives); the database ->
raised (the whole batch again: claims already committed keep their messages from repeating); a
secret that cannot be read or does not fit -> as a refusal of the channel.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from sqlalchemy import Engine

from charlee_collector.alerts.channels import Transports
from charlee_collector.alerts.message import AlertMessage
from charlee_collector.app.alert_delivery import alert_item, deliver
from charlee_collector.core.clock import utcnow
from charlee_collector.normalize.alert_rules import rule_matches
from charlee_collector.observability.logger import logger
from charlee_collector.store.alert_deliveries import AlertCandidate, alert_candidates
from charlee_collector.store.alert_rules import instant_rules


@dataclass(frozen=True)
class CollectedEvent:
    """What the notifier reads of one event: whose, and the ids of the rows it inserted."""

    message_id: str
    user_id: int
    new_ids: tuple[int, ...]


@dataclass
class NotifyResult:
    """What a batch did: the messages to hand back to SQS, and each alert sent."""

    failed_message_ids: set[str] = field(default_factory=set)
    alerts_sent: int = 0
    messages_sent: int = 0
    rules_disabled: list[int] = field(default_factory=list)
    # (source, seconds from collection to notification) per alert sent: the freshness metric.
    latencies: list[tuple[str, float]] = field(default_factory=list)


def parse_collected_event(message_id: str, body: str) -> CollectedEvent | None:
    """The event in an SQS body (EventBridge's envelope around the ``detail``); None when the body
    is not an OpportunitiesCollected event the notifier can read."""
    try:
        envelope = json.loads(body)
        detail = envelope.get("detail", envelope)
        user_id = int(detail["user_id"])
        if detail.get("truncated"):
            new = [int(i) for i in detail["opportunity_ids"]["new"]]
        else:
            new = [int(o["id"]) for o in detail.get("opportunities", []) if o.get("change") == "new"]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return CollectedEvent(message_id, user_id, tuple(new))


def notify_batch(
    engine: Engine,
    records: Sequence[tuple[str, str]],
    *,
    via: Transports,
    read_secret: Callable[[str], Any],
    now: Callable[[], datetime] = utcnow,
) -> NotifyResult:
    """Alert for a batch of ``(message_id, body)`` records (module docstring)."""
    result = NotifyResult()
    events: list[CollectedEvent] = []
    for message_id, body in records:
        event = parse_collected_event(message_id, body)
        if event is None:
            logger.error(
                "not an OpportunitiesCollected event; it will reach the DLQ", extra={"message_id": message_id}
            )
            result.failed_message_ids.add(message_id)
        elif event.new_ids:
            events.append(event)
    if not events:
        return result
    brought_by: dict[int, set[str]] = defaultdict(set)
    for event in events:
        for opportunity_id in event.new_ids:
            brought_by[opportunity_id].add(event.message_id)
    with engine.connect() as conn:
        rules = instant_rules(conn, {e.user_id for e in events})
        candidates = alert_candidates(conn, brought_by) if rules else []
    by_user: dict[int, list[AlertCandidate]] = defaultdict(list)
    for candidate in candidates:
        by_user[candidate.user_id].append(candidate)
    for stored in rules:
        matched = [
            c
            for c in by_user.get(stored.user_id, [])
            if rule_matches(stored.rule, c.item, source=c.source, score=c.score)
        ]
        if not matched:
            continue
        compose = partial(instant_message, stored.id, stored.rule.more_url)
        done = deliver(engine, stored, matched, compose, via=via, read_secret=read_secret, now=now)
        if done.sent and done.sent_at is not None:
            result.alerts_sent += len(done.sent)
            result.messages_sent += 1
            sent_at = done.sent_at
            result.latencies.extend((c.source, (sent_at - c.collected_at).total_seconds()) for c in done.sent)
        if done.disabled:
            result.rules_disabled.append(stored.id)
        elif done.refused:  # SQS delivers the events that brought them again
            result.failed_message_ids.update(m for c in done.refused for m in brought_by[c.id])
    return result


def instant_message(rule_id: int, more_url: str | None, sending: list[AlertCandidate]) -> AlertMessage:
    """The instant message of rule ``rule_id`` for ``sending`` (best first)."""
    count = len(sending)
    return AlertMessage(
        f"{count} new job{'s' if count != 1 else ''} for your alert {rule_id}",
        [alert_item(c) for c in sending],
        more_url=more_url,
    )


def failed_ids(result: NotifyResult, message_ids: Iterable[str]) -> list[str]:
    """The records of ``message_ids`` to hand back to SQS, in their order."""
    return [m for m in message_ids if m in result.failed_message_ids]
