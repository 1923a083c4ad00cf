"""The alert_rules table: a user's rules, added, listed and removed whole (a rule is never edited:
remove it and add the new one, so what was sent under a rule stays what the rule said), and the
health of each rule's channel: a run of failures, and the rule disabled once it lasts a day."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, delete, func, insert, select, update

from charlee_collector.normalize.alert_rules import AlertRule, alert_rule_document, parse_alert_rule
from charlee_collector.store.tables import alert_rules


@dataclass(frozen=True)
class StoredAlertRule:
    """A rule as stored: its id, its owner, the rule and when it was added."""

    id: int
    user_id: int
    rule: AlertRule
    created_at: datetime
    failing_since: datetime | None = None
    last_error: str | None = None
    disabled_at: datetime | None = None
    digest_sent_at: datetime | None = None


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
    return StoredAlertRule(
        row.id,
        row.user_id,
        parse_alert_rule(row.rule),
        row.created_at,
        row.failing_since,
        row.last_error,
        row.disabled_at,
        row.digest_sent_at,
    )


def list_alert_rules(conn: Connection, user_id: int | None = None) -> list[StoredAlertRule]:
    """The rules of ``user_id`` (None: of every user), oldest first."""
    query = select(alert_rules).order_by(alert_rules.c.user_id, alert_rules.c.id)
    if user_id is not None:
        query = query.where(alert_rules.c.user_id == user_id)
    return [_stored(row) for row in conn.execute(query)]


def instant_rules(conn: Connection, user_ids: Iterable[int]) -> list[StoredAlertRule]:
    """The enabled instant rules of ``user_ids``, by user then id."""
    query = (
        select(alert_rules)
        .where(
            alert_rules.c.user_id.in_(list(user_ids)),
            alert_rules.c.mode == "instant",
            alert_rules.c.disabled_at.is_(None),
        )
        .order_by(alert_rules.c.user_id, alert_rules.c.id)
    )
    return [_stored(row) for row in conn.execute(query)]


def digest_rules(conn: Connection) -> list[StoredAlertRule]:
    """Every enabled digest rule, by user then id."""
    query = (
        select(alert_rules)
        .where(alert_rules.c.mode == "digest", alert_rules.c.disabled_at.is_(None))
        .order_by(alert_rules.c.user_id, alert_rules.c.id)
    )
    return [_stored(row) for row in conn.execute(query)]


def record_digest_sent(conn: Connection, rule_id: int, *, now: datetime) -> None:
    """The rule's digest for this period went out (or had nothing to say) at ``now``."""
    conn.execute(update(alert_rules).where(alert_rules.c.id == rule_id).values(digest_sent_at=now))


def record_channel_success(conn: Connection, rule_id: int) -> None:
    """The rule's channel took a message: its run of failures, if any, is over."""
    conn.execute(
        update(alert_rules)
        .where(alert_rules.c.id == rule_id, alert_rules.c.failing_since.is_not(None))
        .values(failing_since=None, last_error=None)
    )


def record_channel_failure(
    conn: Connection, rule_id: int, error: str, *, now: datetime, disable_after: timedelta
) -> bool:
    """The rule's channel failed: start (or continue) its run of failures, and disable the rule
    once the run is ``disable_after`` long; whether it is disabled now."""
    failing_since = func.coalesce(alert_rules.c.failing_since, now)
    disabled: bool = conn.execute(
        update(alert_rules)
        .where(alert_rules.c.id == rule_id)
        .values(
            failing_since=failing_since,
            last_error=error[:1000],
            disabled_at=case((failing_since <= now - disable_after, now), else_=None),
        )
        .returning(alert_rules.c.disabled_at.is_not(None))
    ).scalar_one()
    return disabled


def disabled_rules(conn: Connection) -> list[StoredAlertRule]:
    """The rules disabled after a day of failures of their channel, oldest first."""
    query = (
        select(alert_rules).where(alert_rules.c.disabled_at.is_not(None)).order_by(alert_rules.c.disabled_at)
    )
    return [_stored(row) for row in conn.execute(query)]


def failing_rules(conn: Connection) -> list[StoredAlertRule]:
    """The enabled rules whose channel is failing now, longest first."""
    query = (
        select(alert_rules)
        .where(alert_rules.c.failing_since.is_not(None), alert_rules.c.disabled_at.is_(None))
        .order_by(alert_rules.c.failing_since)
    )
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
