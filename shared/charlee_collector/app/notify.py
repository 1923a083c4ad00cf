"""Instant alerts for a batch of OpportunitiesCollected events: match, claim, send, record.

The events come from NotificationsQueue, at least once and batched by the queue for up to a
minute (template.yaml, NotifierFunction's ``MaximumBatchingWindowInSeconds``): each enabled
instant rule of each user gets **one** message for what the whole batch brought it, so a burst is
one message. For each rule: the new opportunities of the batch that repeat no earlier job
(``duplicate_of`` NULL) and match it; then, per rule:

1. claim each (rule, opportunity, channel) in its own committed transaction
   (``store/alert_deliveries.py``); what is already claimed is left out: a duplicate SQS
   delivery, or an earlier attempt, has it;
2. send the claimed ones in one message (``alerts/channels``);
3. record: sent -> ``mark_sent`` and the channel is healthy; refused -> the claims are released,
   the channel's run of failures goes on (the rule is disabled after ``DISABLE_AFTER``) and the
   events that brought them are reported failed, so SQS delivers them again; an answer that never
   came (``maybe_delivered``) -> the claims stay: maybe sent, never sent twice.

At most once to the person: a crash between 2 and 3 leaves claims that are never sent again
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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from charlee_collector.alerts.channels import Transports, send_alert
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage
from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import InvalidChannelSecret
from charlee_collector.core.opportunity import PERIOD_SUFFIXES
from charlee_collector.normalize.alert_rules import rule_matches
from charlee_collector.observability.logger import logger
from charlee_collector.store.alert_deliveries import (
    AlertCandidate,
    alert_candidates,
    claim_deliveries,
    mark_sent,
    release_claims,
)
from charlee_collector.store.alert_rules import (
    StoredAlertRule,
    instant_rules,
    record_channel_failure,
    record_channel_success,
)

DISABLE_AFTER = timedelta(hours=24)
# Longer than a send with all its retries (http_delivery: at most ~37 s of waits plus timeouts).
CLAIM_LEASE = timedelta(minutes=5)


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
        if matched:
            _alert(engine, stored, matched, brought_by, result, via=via, read_secret=read_secret, now=now)
    return result


def _alert(
    engine: Engine,
    stored: StoredAlertRule,
    matched: list[AlertCandidate],
    brought_by: dict[int, set[str]],
    result: NotifyResult,
    *,
    via: Transports,
    read_secret: Callable[[str], Any],
    now: Callable[[], datetime],
) -> None:
    channel = stored.rule.channel
    with engine.begin() as conn:  # committed before the send: the claim is what stops a second one
        claimed = claim_deliveries(conn, stored.id, channel, matched, now=now(), lease=CLAIM_LEASE)
    if not claimed:
        return
    sending = [c for c in matched if c.id in claimed]
    answer = _send(stored, sending, via=via, read_secret=read_secret)
    with engine.begin() as conn:
        if answer.ok:
            sent_at = now()
            mark_sent(conn, stored.id, channel, claimed, now=sent_at)
            record_channel_success(conn, stored.id)
            result.alerts_sent += len(sending)
            result.messages_sent += 1
            result.latencies.extend((c.source, (sent_at - c.collected_at).total_seconds()) for c in sending)
            return
        if answer.maybe_delivered:
            logger.warning(
                "no answer from the channel: the alerts stay claimed and are not sent again",
                extra={
                    "rule_id": stored.id,
                    "channel": channel,
                    "answer": answer.detail,
                    "alerts": len(sending),
                },
            )
            return
        release_claims(conn, stored.id, channel, claimed)
        disabled = record_channel_failure(
            conn, stored.id, answer.describe(channel), now=now(), disable_after=DISABLE_AFTER
        )
    logger.warning(
        "the channel refused the alert; SQS delivers its events again",
        extra={
            "rule_id": stored.id,
            "channel": channel,
            "answer": answer.describe(channel),
            "disabled": disabled,
        },
    )
    if disabled:
        result.rules_disabled.append(stored.id)
    else:
        result.failed_message_ids.update(m for c in sending for m in brought_by[c.id])


def _send(
    stored: StoredAlertRule,
    sending: list[AlertCandidate],
    *,
    via: Transports,
    read_secret: Callable[[str], Any],
) -> ChannelAnswer:
    """One message for ``sending`` on the rule's channel; a secret that fails is a refused answer."""
    rule = stored.rule
    count = len(sending)
    message = AlertMessage(
        f"{count} new job{'s' if count != 1 else ''} for your alert {stored.id}",
        [_item(c) for c in sending],
        more_url=rule.more_url,
    )
    try:
        return send_alert(rule.channel, read_secret(rule.secret), message, via)
    except InvalidChannelSecret as exc:
        return ChannelAnswer(False, None, str(exc), 0)
    except Exception as exc:  # Secrets Manager: unreachable, denied, no such secret
        from charlee_collector.core.aws import aws_cause

        return ChannelAnswer(False, None, f"secret {rule.secret}: {aws_cause(exc)}", 0)


def _item(candidate: AlertCandidate) -> AlertItem:
    item = candidate.item
    budget = None
    if item.client_budget is not None:
        suffix = PERIOD_SUFFIXES.get(item.budget_period or "", "")
        budget = (
            f"{item.client_budget:f}".rstrip("0").rstrip(".")
            + f" {item.client_currency or ''}".rstrip()
            + suffix
        )
    return AlertItem(item.title, item.url, candidate.source, candidate.score, budget)


def failed_ids(result: NotifyResult, message_ids: Iterable[str]) -> list[str]:
    """The records of ``message_ids`` to hand back to SQS, in their order."""
    return [m for m in message_ids if m in result.failed_message_ids]
