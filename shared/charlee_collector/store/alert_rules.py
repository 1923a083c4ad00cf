"""The alert_rules table: a user's rules, added, listed and removed whole (a rule is never edited:
remove it and add the new one, so what was sent under a rule stays what the rule said)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from charlee_collector.normalize.alert_rules import AlertRule, alert_rule_document, parse_alert_rule
from charlee_collector.store.tables import alert_rules


@dataclass(frozen=True)
class StoredAlertRule:
    """A rule as stored: its id, its owner, the rule and when it was added."""

    id: int
    user_id: int
    rule: AlertRule
    created_at: datetime


def add_alert_rule(conn: Connection, user_id: int, rule: AlertRule, *, now: datetime) -> int:
    """Store ``rule`` for ``user_id``; its new id."""
    rule_id: int = conn.execute(
        insert(alert_rules)
        .values(
            user_id=user_id,
            channel=rule.channel,
            secret=rule.secret,
            mode=rule.mode,
            rule=alert_rule_document(rule),
            created_at=now,
        )
        .returning(alert_rules.c.id)
    ).scalar_one()
    return rule_id


def _stored(row: Any) -> StoredAlertRule:
    return StoredAlertRule(row.id, row.user_id, parse_alert_rule(row.rule), row.created_at)


def list_alert_rules(conn: Connection, user_id: int | None = None) -> list[StoredAlertRule]:
    """The rules of ``user_id`` (None: of every user), oldest first."""
    query = select(alert_rules).order_by(alert_rules.c.user_id, alert_rules.c.id)
    if user_id is not None:
        query = query.where(alert_rules.c.user_id == user_id)
    return [_stored(row) for row in conn.execute(query)]


def load_alert_rule(conn: Connection, rule_id: int) -> StoredAlertRule | None:
    """Rule ``rule_id``, or None."""
    row = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).one_or_none()
    return None if row is None else _stored(row)


def remove_alert_rule(conn: Connection, rule_id: int, *, user_id: int | None = None) -> bool:
    """Delete rule ``rule_id`` (only when it is ``user_id``'s, when given); whether one was deleted."""
    statement = delete(alert_rules).where(alert_rules.c.id == rule_id)
    if user_id is not None:
        statement = statement.where(alert_rules.c.user_id == user_id)
    return conn.execute(statement).rowcount == 1
