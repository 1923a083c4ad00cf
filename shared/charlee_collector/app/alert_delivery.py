"""One rule's message, delivered at most once: claim, send, record (instant alerts and digests).

``deliver`` claims each (rule, job, channel) in a committed transaction, sends one message for
what it claimed (``compose`` writes it), then records the answer: sent -> ``mark_sent`` and the
channel is healthy; refused -> the claims are released and the channel's run of failures goes
on (``DISABLE_AFTER`` of them disables the rule); no answer after the request left
(``maybe_delivered``) -> the claims stay, never sent twice. A crash between the send and the
record leaves the claims: the alert may be lost, never doubled (docs/alerts.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from charlee_collector.alerts.channels import Transports, send_alert
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage
from charlee_collector.core.errors import InvalidChannelSecret
from charlee_collector.core.opportunity import PERIOD_SUFFIXES
from charlee_collector.observability.logger import logger
from charlee_collector.store.alert_deliveries import (
    AlertCandidate,
    claim_deliveries,
    mark_sent,
    release_claims,
)
from charlee_collector.store.alert_rules import (
    StoredAlertRule,
    record_channel_failure,
    record_channel_success,
)

DISABLE_AFTER = timedelta(hours=24)
# Longer than a send with all its retries (http_delivery: at most ~37 s of waits plus timeouts).
CLAIM_LEASE = timedelta(minutes=5)


@dataclass
class Delivery:
    """What one rule's delivery did."""

    sent: list[AlertCandidate] = field(default_factory=list)
    sent_at: datetime | None = None
    refused: list[AlertCandidate] = field(default_factory=list)  # released: may be tried again
    disabled: bool = False
    claimed: bool = False


def deliver(
    engine: Engine,
    stored: StoredAlertRule,
    matched: Sequence[AlertCandidate],
    compose: Callable[[list[AlertCandidate]], AlertMessage],
    *,
    via: Transports,
    read_secret: Callable[[str], Any],
    now: Callable[[], datetime],
) -> Delivery:
    """Claim, send and record ``matched`` under ``stored`` (module docstring)."""
    channel = stored.rule.channel
    result = Delivery()
    with engine.begin() as conn:  # committed before the send: the claim is what stops a second one
        claimed = claim_deliveries(conn, stored.id, channel, matched, now=now(), lease=CLAIM_LEASE)
    if not claimed:
        return result
    result.claimed = True
    sending = [c for c in matched if c.id in claimed]
    answer = _send(stored, compose(sending), via=via, read_secret=read_secret)
    with engine.begin() as conn:
        if answer.ok:
            result.sent, result.sent_at = sending, now()
            mark_sent(conn, stored.id, channel, claimed, now=result.sent_at)
            record_channel_success(conn, stored.id)
            return result
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
            return result
        release_claims(conn, stored.id, channel, claimed)
        result.refused = sending
        result.disabled = record_channel_failure(
            conn, stored.id, answer.describe(channel), now=now(), disable_after=DISABLE_AFTER
        )
    logger.warning(
        "the channel refused the alert; it will be tried again",
        extra={
            "rule_id": stored.id,
            "channel": channel,
            "answer": answer.describe(channel),
            "disabled": result.disabled,
        },
    )
    return result


def _send(
    stored: StoredAlertRule, message: AlertMessage, *, via: Transports, read_secret: Callable[[str], Any]
) -> ChannelAnswer:
    """``message`` on the rule's channel; a secret that fails is a refused answer."""
    rule = stored.rule
    try:
        return send_alert(rule.channel, read_secret(rule.secret), message, via)
    except InvalidChannelSecret as exc:
        return ChannelAnswer(False, None, str(exc), 0)
    except Exception as exc:  # Secrets Manager: unreachable, denied, no such secret
        from charlee_collector.core.aws import aws_cause

        return ChannelAnswer(False, None, f"secret {rule.secret}: {aws_cause(exc)}", 0)


def budget_text(candidate: AlertCandidate) -> str | None:
    """The job's budget as a listing writes it ("90 USD/h"), or None."""
    item = candidate.item
    if item.client_budget is None:
        return None
    amount = f"{item.client_budget:f}".rstrip("0").rstrip(".")
    return f"{amount} {item.client_currency or ''}".rstrip() + PERIOD_SUFFIXES.get(
        item.budget_period or "", ""
    )


def alert_item(candidate: AlertCandidate) -> AlertItem:
    """A candidate as a line of a message."""
    return AlertItem(
        candidate.item.title, candidate.item.url, candidate.source, candidate.score, budget_text(candidate)
    )
