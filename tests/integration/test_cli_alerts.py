"""``alerts add|list|remove|test``: the real command in a subprocess on PostgreSQL; each refusal one
line naming the field, exit 2, nothing stored;
``test`` against Secrets Manager (moto) and a loopback webhook."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import pytest

from tests.support.cli import Cli, Result, postgres_cli
from tests.support.moto_server import MotoServer

SLACK = ("--channel", "slack", "--secret", "charlee/prod/alerts/slack-me")


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def one_line_error(result: Result, *fragments: str) -> None:
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_add_list_and_remove_rules(cli: Cli) -> None:
    instant = cli(
        "alerts", "add", "--user", "1", *SLACK, "--min-score", "70", "--keyword", "python",
        "--source", "remotive", "--min-budget", "60/hour", "--contract-type", "hourly",
    )  # fmt: skip
    instant_id = int(instant.stdout)
    assert "score >= 70; keywords python; sources remotive; contract_types hourly" in instant.stderr
    assert "budget >= 60/hour; instant; slack via charlee/prod/alerts/slack-me" in instant.stderr

    # A digest's time zone is the profile's unless given.
    cli("profile", "set", "--user", "2", "--timezone", "Europe/Lisbon")
    digest = cli(
        "alerts", "add", "--user", "2", "--channel", "email", "--secret", "charlee/prod/alerts/mail",
        "--mode", "digest", "--every", "weekly", "--hour", "8", "--weekday", "mon",
    )  # fmt: skip
    digest_id = int(digest.stdout)
    assert "every job; weekly digest at 08:00 on mon Europe/Lisbon; email" in digest.stderr

    listed = cli.json("alerts", "list")
    assert [(r["id"], r["user_id"], r["mode"]) for r in listed] == [
        (instant_id, 1, "instant"),
        (digest_id, 2, "digest"),
    ]
    assert listed[0]["min_budget"] == "60/hour" and listed[1]["timezone"] == "Europe/Lisbon"
    assert [r["id"] for r in cli.json("alerts", "list", "--user", "2")] == [digest_id]
    table = cli("alerts", "list").stdout
    assert "weekly digest at 08:00" in table and "Alert rules" in table

    one_line_error(cli("alerts", "remove", str(instant_id), "--user", "2", expect=1), "not found for user 2")
    removed = cli("alerts", "remove", str(instant_id))
    assert removed.stdout == "" and f"alert rule {instant_id} removed" in removed.stderr
    one_line_error(cli("alerts", "remove", str(instant_id), expect=1), f"alert rule {instant_id} not found")
    assert [r["id"] for r in cli.json("alerts", "list")] == [digest_id]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("--min-score", "101"), "'min_score'"),
        (("--source", "myspace"), "'sources.0'"),
        (("--min-budget", "60/fortnight"), "'min_budget'"),
        (("--contract-type", "salaried"), "'contract_types.0'"),
        (("--mode", "digest", "--every", "daily"), "'hour'"),
        (("--mode", "digest", "--every", "daily", "--hour", "8", "--timezone", "Mars/Base"), "'timezone'"),
        (("--every", "daily"), "mode digest only"),
        (("--more-url", "ftp://x"), "'more_url'"),
    ],
)
def test_an_invalid_rule_is_one_line_naming_the_field(cli: Cli, args: tuple[str, ...], field: str) -> None:
    one_line_error(cli("alerts", "add", "--user", "1", *SLACK, *args, expect=2), "invalid alert rule", field)
    assert cli.json("alerts", "list") == []


def test_channel_and_secret_are_checked(cli: Cli) -> None:
    one_line_error(
        cli(
            "alerts", "add", "--user", "1", "--channel", "pigeon", "--secret", "charlee/p/alerts/x", expect=2
        ),
        "'channel'",
    )
    one_line_error(
        cli(
            "alerts",
            "add",
            "--user",
            "1",
            "--channel",
            "slack",
            "--secret",
            "https://hooks.slack.com/x",
            expect=2,
        ),
        "'secret'",
        "charlee/<stack>/alerts/<name>",
    )
    one_line_error(
        cli(
            "alerts", "add", "--user", "1", *SLACK, expect=2, env={"PLATFORM_SECRET_PREFIX": "charlee/other/"}
        ),
        "'secret'",
        "outside charlee/other/alerts/",
    )


@pytest.fixture
def aws_cli(request: pytest.FixtureRequest, tmp_path: Path, moto_server: MotoServer) -> Cli:
    command = postgres_cli(request, tmp_path)
    command.env.update(moto_server.env)
    return command


def test_alerts_test_sends_one_message_and_says_what_the_channel_answered(
    aws_cli: Cli, moto_server: MotoServer, http_server
) -> None:
    secrets = boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"charlee/test/alerts/{uuid.uuid4().hex}"
    secrets.create_secret(Name=name, SecretString=json.dumps({"url": http_server.url("/services/T/B/x")}))
    rule_id = aws_cli(
        "alerts", "add", "--user", "1", "--channel", "slack", "--secret", name,
        "--more-url", "https://app.example/jobs",
    ).stdout.strip()  # fmt: skip

    http_server.route("/services/T/B/x", body="ok", content_type="text/plain")
    sent = aws_cli("alerts", "test", rule_id)
    assert sent.stdout.strip() == "slack answered HTTP 200 (1 attempt): ok"
    [request] = http_server.requests_to("/services/T/B/x")
    assert f"a test of alert rule {rule_id}" in json.loads(request.body)["text"]

    http_server.route("/services/T/B/x", status=403, body="invalid_token", content_type="text/plain")
    refused = aws_cli("alerts", "test", rule_id, expect=1)
    assert refused.stdout.strip() == "slack answered HTTP 403 (1 attempt): invalid_token"
    one_line_error(refused, "did not take the message (HTTP 403)")

    missing = aws_cli(
        "alerts", "add", "--user", "1", "--channel", "slack", "--secret", "charlee/test/alerts/none"
    ).stdout.strip()
    one_line_error(aws_cli("alerts", "test", missing, expect=1), "cannot read secret", "ResourceNotFound")
    secrets.create_secret(Name="charlee/test/alerts/bad", SecretString=json.dumps({"hook": "x"}))
    bad = aws_cli(
        "alerts", "add", "--user", "1", "--channel", "slack", "--secret", "charlee/test/alerts/bad"
    ).stdout.strip()
    one_line_error(aws_cli("alerts", "test", bad, expect=1), "key 'url'")
    one_line_error(aws_cli("alerts", "test", "999999", expect=1), "alert rule 999999 not found")


def test_status_shows_disabled_rules_and_freshness_per_source(
    cli: Cli, pg_engine, http_server, http_client
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from charlee_collector.alerts.channels import Transports
    from charlee_collector.app.notify import notify_batch
    from charlee_collector.core.clock import utcnow
    from charlee_collector.store.tables import alert_rules
    from tests.support.alerts import add_jobs, add_rule, collected_body

    http_server.route("/hook", body="ok")
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer", "Python lead"], source="remotive")
        add_rule(conn)
    notify_batch(
        pg_engine,
        [("m1", collected_body(1, ids))],
        via=Transports(http=http_client),
        read_secret=lambda name: {"url": http_server.url("/hook")},
    )
    since = utcnow() - timedelta(hours=25)
    with pg_engine.begin() as conn:
        broken = add_rule(conn, channel="discord", secret="charlee/p/alerts/gone")
        conn.execute(
            update(alert_rules)
            .where(alert_rules.c.id == broken)
            .values(
                failing_since=since,
                disabled_at=utcnow(),
                last_error="discord answered HTTP 404 (1 attempt): Unknown Webhook",
            )
        )

    status = cli.json("status")["alerts"]
    assert [(r["id"], r["channel"]) for r in status["disabled"]] == [(broken, "discord")]
    assert status["failing"] == [] and status["unknown_sends"] == 0
    [remotive] = status["freshness"]
    assert (remotive["source"], remotive["alerts"]) == ("remotive", 2)
    assert 600 <= remotive["posted_p50"] <= remotive["posted_p95"] < 700
    shown = cli("status")
    assert "Alert rules disabled" in shown.stdout and "Unknown Webhook" in shown.stdout
    assert "Alert freshness" in shown.stdout and "remotive" in shown.stdout
    assert "1 alert rule(s) disabled" in shown.stderr
