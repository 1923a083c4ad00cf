"""app/notify.py on PostgreSQL against a loopback Slack webhook: a burst is one message per
rule, duplicates alert once, a delivery repeated sends nothing, a refusal is retried by SQS, a
channel failing for a day is disabled, and each alert's times are recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from charlee_collector.alerts.channels import Transports
from charlee_collector.app.notify import notify_batch
from charlee_collector.core.clock import utcnow
from charlee_collector.store.alert_deliveries import freshness_by_source
from charlee_collector.store.tables import alert_deliveries, alert_rules, opportunities
from tests.support.alerts import add_jobs, add_rule, collected_body

HOOK = "/services/T/B/notify"


@pytest.fixture
def secrets(http_server) -> dict[str, Any]:
    return {"charlee/test/alerts/hook": {"url": http_server.url(HOOK)}}


@pytest.fixture
def notify(pg_engine: Engine, http_client: httpx.Client, secrets: dict[str, Any]):
    def run(records, **options):
        return notify_batch(
            pg_engine,
            records,
            via=Transports(http=http_client, sleep=lambda seconds: None),
            read_secret=secrets.__getitem__,
            **options,
        )

    return run


def sent_texts(http_server) -> list[str]:
    return [json.loads(r.body)["text"] for r in http_server.requests_to(HOOK)]


def test_a_burst_is_one_message_per_rule_best_first_duplicates_once(
    pg_engine: Engine, http_server, notify
) -> None:
    http_server.route(HOOK, body="ok")
    with pg_engine.begin() as conn:
        first = add_jobs(conn, ["Python developer", "Java developer"], source="rss")
        second = add_jobs(conn, ["Senior Python engineer", "Python again"], source="remotive", score=95)
        # The second board's "Python again" repeats the first board's job: it alerts once, as the first.
        conn.execute(
            update(opportunities).where(opportunities.c.id == second[1]).values(duplicate_of=first[0])
        )
        python_rule = add_rule(conn, keywords=["python"], min_score=70)
        add_rule(conn, keywords=["cobol"])  # matches nothing: sends nothing
        add_rule(conn, user_id=2)  # another user's rule: not this user's jobs
    result = notify([("m1", collected_body(1, first)), ("m2", collected_body(1, second))])
    assert (result.messages_sent, result.alerts_sent, result.failed_message_ids) == (1, 2, set())
    [text] = sent_texts(http_server)
    assert text.startswith(f"*2 new jobs for your alert {python_rule}*")
    assert text.index("Senior Python engineer") < text.index("Python developer")  # best score first
    assert "Java" not in text and "Python again" not in text
    assert "[95]" in text and "remotive · 90 USD/h" in text
    with pg_engine.connect() as conn:
        rows = conn.execute(select(alert_deliveries)).mappings().all()
    assert {(r["opportunity_id"], r["state"]) for r in rows} == {(first[0], "sent"), (second[0], "sent")}
    assert all(r["posted_at"] < r["collected_at"] <= r["notified_at"] for r in rows)


def test_a_delivery_repeated_sends_nothing_more(pg_engine: Engine, http_server, notify) -> None:
    http_server.route(HOOK, body="ok")
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer"])
        add_rule(conn)
    records = [("m1", collected_body(1, ids))]
    assert notify(records).messages_sent == 1
    assert notify(records).messages_sent == 0
    # A later event naming the same row (its copy in another batch) is no new alert either.
    assert notify([("m9", collected_body(1, ids))]).messages_sent == 0
    assert len(http_server.requests_to(HOOK)) == 1


def test_a_refusal_is_delivered_again_and_a_day_of_them_disables_the_rule(
    pg_engine: Engine, http_server, notify
) -> None:
    http_server.route(HOOK, status=404, body="no_service")
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer"])
        rule_id = add_rule(conn)
    records = [("m1", collected_body(1, ids)), ("other", collected_body(1, []))]
    refused = notify(records)
    assert refused.failed_message_ids == {"m1"} and refused.messages_sent == 0
    with pg_engine.connect() as conn:
        assert conn.execute(select(alert_deliveries)).all() == []  # released: SQS's retry may send
        rule = conn.execute(select(alert_rules).where(alert_rules.c.id == rule_id)).mappings().one()
    assert rule["failing_since"] is not None and "HTTP 404" in rule["last_error"]

    http_server.route(HOOK, body="ok")
    assert notify(records).messages_sent == 1
    with pg_engine.connect() as conn:
        assert conn.execute(select(alert_rules.c.failing_since)).scalar_one() is None

    # Failing from now on: still enabled a minute short of a day, disabled at a day.
    with pg_engine.begin() as conn:
        more = add_jobs(conn, ["Python lead"])
    http_server.route(HOOK, status=500, body="boom")
    start = utcnow()
    assert notify([("m2", collected_body(1, more))], now=lambda: start).rules_disabled == []
    late = notify([("m2", collected_body(1, more))], now=lambda: start + timedelta(hours=23, minutes=59))
    assert late.rules_disabled == [] and late.failed_message_ids == {"m2"}
    day = notify([("m2", collected_body(1, more))], now=lambda: start + timedelta(hours=24))
    assert day.rules_disabled == [rule_id] and day.failed_message_ids == set()  # retrying cannot help
    http_server.route(HOOK, body="ok")
    assert notify([("m2", collected_body(1, more))]).messages_sent == 0  # disabled: nothing sent


def test_a_secret_that_cannot_be_read_is_a_refusal(pg_engine: Engine, http_server, notify) -> None:
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer"])
        add_rule(conn, secret="charlee/test/alerts/missing")
    result = notify([("m1", collected_body(1, ids))])
    assert result.failed_message_ids == {"m1"}
    with pg_engine.connect() as conn:
        assert "charlee/test/alerts/missing" in conn.execute(select(alert_rules.c.last_error)).scalar_one()


def test_what_is_not_an_event_is_failed_for_the_dlq(notify) -> None:
    assert notify([("bad", "{not json"), ("odd", '{"detail": {"user": 1}}')]).failed_message_ids == {
        "bad",
        "odd",
    }


def test_freshness_per_source(pg_engine: Engine, http_server, notify) -> None:
    http_server.route(HOOK, body="ok")
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python a", "Python b"], source="remotive")
        add_rule(conn)
    notify([("m1", collected_body(1, ids))])
    with pg_engine.connect() as conn:
        [remotive] = freshness_by_source(conn, since=utcnow() - timedelta(hours=1))
    assert remotive.source == "remotive" and remotive.alerts == 2
    assert 600 <= remotive.posted_p50 <= remotive.posted_p95 < 700  # posted 10 minutes before
    assert 0 <= remotive.collected_p50 <= remotive.collected_p95 < 60
