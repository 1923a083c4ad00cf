"""Rows and events for the notifier's tests: a user's opportunities, an OpportunitiesCollected
event naming them (in EventBridge's envelope, as NotificationsQueue holds it), a rule."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, insert

from charlee_collector.core.clock import utcnow
from charlee_collector.normalize.alert_rules import parse_alert_rule
from charlee_collector.store.alert_rules import add_alert_rule
from charlee_collector.store.tables import opportunities
from tests.support.factories import add_platform


def add_jobs(
    conn: Connection, titles: list[str], *, user_id: int = 1, source: str = "rss", **columns: Any
) -> list[int]:
    """Insert one opportunity per title on a new platform of ``source``; their ids."""
    platform_id = add_platform(conn, user_id=user_id, source=source, name=f"{source} board")
    now = utcnow()
    ids = []
    for n, title in enumerate(titles):
        values = {
            "user_id": user_id,
            "platform_id": platform_id,
            "external_id": f"{source}-{title}-{n}",
            "title": title,
            "url": f"https://jobs.example/{source}/{n}",
            "required_skills": [],
            "content_hash": "0" * 64,
            "posted_at": now - timedelta(minutes=10),
            "collected_at": now,
            "updated_at": now,
            "score": 80,
            "client_budget": Decimal(90),
            "client_currency": "USD",
            "budget_period": "hour",
            **columns,
        }
        ids.append(
            conn.execute(insert(opportunities).values(**values).returning(opportunities.c.id)).scalar_one()
        )
    return ids


def collected_body(user_id: int, new_ids: list[int], *, when: datetime | None = None) -> str:
    """An SQS body from NotificationsRule: the event's envelope around its detail."""
    detail = {
        "event_id": f"e-{user_id}-{'-'.join(map(str, new_ids))}",
        "user_id": user_id,
        "collected_at": (when or utcnow()).isoformat(),
        "truncated": False,
        "opportunities": [{"id": i, "change": "new", "duplicate_of": None} for i in new_ids],
    }
    return json.dumps(
        {"source": "charlee.collector", "detail-type": "OpportunitiesCollected", "detail": detail}
    )


def add_rule(
    conn: Connection, *, user_id: int = 1, secret: str = "charlee/test/alerts/hook", **fields: Any
) -> int:
    """A Slack rule (unless ``fields`` says otherwise) for ``user_id``; its id."""
    rule = parse_alert_rule({"channel": "slack", "secret": secret, **fields})
    return add_alert_rule(conn, user_id, rule, now=utcnow())
