"""Digests: for each digest rule whose local hour has come, one message with what matched since
the last period, best first, and what the period looked like.

Called by the notifier's scheduled invocation (template.yaml, NotifierFunction's ``Digests``
schedule, every 15 minutes; the local run after each tick). A rule is due at its local ``hour``
(and ``weekday`` for a weekly one) when no digest went out since that hour began
(``normalize/alert_rules.digest_due``). It lists the user's jobs collected in the last day or week
that repeat no earlier job, match the rule and were never sent under it (the same claims as
instant alerts: ``app/alert_delivery.py``, at most once), with its insights: how many matched
per source, the skills the user's jobs asked for most this week, and the median budget per
period of the matches. Nothing matched: nothing is sent, the period is done. A refusal leaves the
period open: the next invocation within the hour tries again.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

from charlee_collector.alerts.channels import Transports
from charlee_collector.alerts.message import AlertMessage
from charlee_collector.app.alert_delivery import alert_item, deliver
from charlee_collector.core.clock import utcnow
from charlee_collector.core.opportunity import PERIOD_SUFFIXES
from charlee_collector.normalize.alert_rules import digest_due, digest_window, rule_matches
from charlee_collector.store.alert_deliveries import AlertCandidate, recent_candidates, skills_asked
from charlee_collector.store.alert_rules import StoredAlertRule, digest_rules, record_digest_sent

# At most this many of a user's recent jobs are read for one digest (best score first).
MAX_CANDIDATES = 500
TOP_SKILLS = 5
SKILLS_WINDOW = timedelta(days=7)


@dataclass
class DigestResult:
    """What one pass did: the digests sent (rule ids), the jobs in them, the rules disabled."""

    sent: list[int] = field(default_factory=list)
    alerts_sent: int = 0
    rules_disabled: list[int] = field(default_factory=list)


def send_due_digests(
    engine: Engine,
    *,
    via: Transports,
    read_secret: Callable[[str], Any],
    now: Callable[[], datetime] = utcnow,
) -> DigestResult:
    """Send every digest that is due (module docstring)."""
    result = DigestResult()
    at = now()
    with engine.connect() as conn:
        due = [r for r in digest_rules(conn) if digest_due(r.rule, r.digest_sent_at, at)]
    for stored in due:
        _digest(engine, stored, result, at=at, via=via, read_secret=read_secret, now=now)
    return result


def _digest(
    engine: Engine,
    stored: StoredAlertRule,
    result: DigestResult,
    *,
    at: datetime,
    via: Transports,
    read_secret: Callable[[str], Any],
    now: Callable[[], datetime],
) -> None:
    rule = stored.rule
    with engine.connect() as conn:
        recent = recent_candidates(conn, stored.user_id, since=at - digest_window(rule), limit=MAX_CANDIDATES)
        skills = skills_asked(conn, stored.user_id, since=at - SKILLS_WINDOW, limit=TOP_SKILLS)
    matched = [c for c in recent if rule_matches(rule, c.item, source=c.source, score=c.score)]

    def compose(sending: list[AlertCandidate]) -> AlertMessage:
        return digest_message(stored.id, rule.every or "daily", sending, skills, more_url=rule.more_url)

    done = deliver(engine, stored, matched, compose, via=via, read_secret=read_secret, now=now)
    if done.disabled:
        result.rules_disabled.append(stored.id)
    if done.refused:
        return  # the period stays open: the next invocation this hour tries again
    if done.sent:
        result.sent.append(stored.id)
        result.alerts_sent += len(done.sent)
    with engine.begin() as conn:
        record_digest_sent(conn, stored.id, now=at)


def digest_message(
    rule_id: int,
    every: str,
    sending: list[AlertCandidate],
    skills: list[tuple[str, int]],
    *,
    more_url: str | None,
) -> AlertMessage:
    """The digest of rule ``rule_id``: its jobs best first, and the period's insights."""
    count = len(sending)
    notes = [
        "Per source: "
        + ", ".join(f"{source} {n}" for source, n in Counter(c.source for c in sending).most_common()),
    ]
    if skills:
        notes.append("Most asked this week: " + ", ".join(f"{skill} ({n})" for skill, n in skills))
    medians = median_budgets(sending)
    if medians:
        notes.append("Median budget: " + ", ".join(medians))
    period = "today" if every == "daily" else "this week"
    return AlertMessage(
        f"Your {every} digest (alert {rule_id}): {count} new job{'s' if count != 1 else ''} {period}",
        [alert_item(c) for c in sending],
        more_url=more_url,
        notes=notes,
    )


def median_budgets(candidates: list[AlertCandidate]) -> list[str]:
    """The median budget of ``candidates`` per period and currency, like with like ("90 USD/h")."""
    amounts: dict[tuple[str, str], list[Decimal]] = defaultdict(list)
    for c in candidates:
        item = c.item
        if item.client_budget is not None and item.budget_period:
            amounts[(item.budget_period, item.client_currency or "")].append(item.client_budget)
    texts = []
    for (period, currency), values in sorted(amounts.items(), key=lambda kv: -len(kv[1])):
        median = f"{statistics.median(values):f}".rstrip("0").rstrip(".")
        texts.append(f"{median} {currency}".rstrip() + PERIOD_SUFFIXES.get(period, ""))
    return texts
