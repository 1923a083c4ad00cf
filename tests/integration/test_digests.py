"""app/digests.py on PostgreSQL against a loopback Slack webhook: a digest at the rule's local
hour with its insights, once a period, never a job twice; a refusal leaves the period open."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import Engine

from charlee_collector.alerts.channels import Transports
from charlee_collector.app.digests import send_due_digests
from tests.support.alerts import add_jobs, add_rule

HOOK = "/services/T/B/digest"
# 08:05 in Lisbon (UTC in winter): the rules' hour.
AT_8 = datetime(2026, 12, 7, 8, 5, tzinfo=UTC)


@pytest.fixture
def digests(pg_engine: Engine, http_client: httpx.Client, http_server):
    def run(at: datetime):
        return send_due_digests(
            pg_engine,
            via=Transports(http=http_client, sleep=lambda seconds: None),
            read_secret=lambda name: {"url": http_server.url(HOOK)},
            now=lambda: at,
        )

    return run


def texts(http_server) -> list[str]:
    return [json.loads(r.body)["text"] for r in http_server.requests_to(HOOK)]


def test_a_daily_digest_with_insights_once_a_day(pg_engine: Engine, http_server, digests) -> None:
    http_server.route(HOOK, body="ok")
    with pg_engine.begin() as conn:
        add_jobs(conn, ["Python developer", "Python lead"], source="remotive", required_skills=["Python", "AWS"],
                 collected_at=AT_8 - timedelta(hours=3), posted_at=AT_8 - timedelta(hours=4))  # fmt: skip
        add_jobs(conn, ["Python contractor"], source="rss", required_skills=["python"], score=95,
                 client_budget=Decimal(110), collected_at=AT_8 - timedelta(hours=2),
                 posted_at=AT_8 - timedelta(hours=5))  # fmt: skip
        add_jobs(conn, ["Old Python job"], source="rss", collected_at=AT_8 - timedelta(days=2),
                 posted_at=AT_8 - timedelta(days=2))  # fmt: skip
        rule_id = add_rule(
            conn, mode="digest", every="daily", hour=8, timezone="Europe/Lisbon", keywords=["python"]
        )
    assert digests(AT_8 - timedelta(hours=1)).sent == []  # 07:05: not yet
    assert digests(AT_8).sent == [rule_id]
    [text] = texts(http_server)
    assert text.startswith(f"*Your daily digest (alert {rule_id}): 3 new jobs today*")
    assert "Per source: remotive 2, rss 1" in text
    assert "Most asked this week: python (3), aws (2)" in text
    assert "Median budget: 90 USD/h" in text
    assert text.index("Python contractor") < text.index("Python developer")  # best first
    assert "Old Python job" not in text  # collected before the day

    assert digests(AT_8 + timedelta(minutes=30)).sent == []  # once a period
    with pg_engine.begin() as conn:
        add_jobs(conn, ["Python architect"], collected_at=AT_8 + timedelta(hours=2))
    assert digests(AT_8 + timedelta(days=1)).sent == [rule_id]
    tomorrow = texts(http_server)[-1]
    assert "1 new job today" in tomorrow and "Python architect" in tomorrow
    assert "Python developer" not in tomorrow  # never a job twice under one rule


def test_a_refused_digest_is_tried_again_within_the_hour(pg_engine: Engine, http_server, digests) -> None:
    http_server.route(HOOK, status=500, body="down")
    with pg_engine.begin() as conn:
        add_jobs(conn, ["Python developer"], collected_at=AT_8 - timedelta(hours=1))
        rule_id = add_rule(conn, mode="digest", every="daily", hour=8, timezone="Europe/Lisbon")
    assert digests(AT_8).sent == []
    http_server.route(HOOK, body="ok")
    assert digests(AT_8 + timedelta(minutes=15)).sent == [rule_id]
    assert "Python developer" in texts(http_server)[-1]


def test_nothing_matched_sends_nothing(pg_engine: Engine, http_server, digests) -> None:
    http_server.route(HOOK, body="ok")
    with pg_engine.begin() as conn:
        add_jobs(conn, ["Java developer"], collected_at=AT_8 - timedelta(hours=1))
        add_rule(conn, mode="digest", every="daily", hour=8, timezone="Europe/Lisbon", keywords=["cobol"])
    assert digests(AT_8).sent == []
    assert http_server.requests_to(HOOK) == []
