"""A platform's credentials secret: only the stack's own (charlee/<stack>/...), never over http://.

The collector (the real handler, moto's Secrets Manager, the test PostgreSQL) records a refusal
as the collection's permanent failure, before any secret is read or any request is made; the CLI
refuses the same platform when it is added (exit 2).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import collector_handler
import pytest
from sqlalchemy import URL, Engine, select

from charlee_collector.app import runtime
from charlee_collector.core.aws import forget_secrets
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.local.handlers import LocalLambdaContext
from charlee_collector_tools.local.poller import sqs_event
from tests.support.cli import Cli
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

ARN = "arn:aws:sqs:us-east-1:123456789012:collect"


def collect_once(pg_engine: Engine, platform_id: int) -> tuple[str, str]:
    """Collect ``platform_id`` through the handler; its run's outcome and error."""
    record = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": "rh",
        "Body": json.dumps({"platform_id": platform_id}),
    }
    collector_handler.handler(sqs_event([record], ARN), LocalLambdaContext("CollectorFunction"))
    with pg_engine.connect() as conn:
        (outcome, error) = conn.execute(
            select(runs.c.outcome, runs.c.error).join(platforms).where(platforms.c.id == platform_id)
        ).one()
    return outcome, error


@pytest.fixture
def stack_prefix(pipeline_env: None, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("PLATFORM_SECRET_PREFIX", "charlee/prod/")
    runtime.reset()
    forget_secrets()
    return "charlee/prod/"


def test_a_secret_outside_the_stacks_prefix_fails_the_collection_unread(
    stack_prefix: str, pg_engine: Engine, http_server: LocalHTTPServer
) -> None:
    http_server.route("/jobs", body=b'{"jobs": []}', content_type="application/json")
    name = "charlee/staging/key"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=name, SecretString=json.dumps({"api_key": "k"})
    )
    config = {"url": http_server.url("/jobs"), "items": "jobs", "headers": {"X-Api-Key": "{api_key}"}}
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config, credentials_secret=name)

    outcome, error = collect_once(pg_engine, platform_id)

    assert outcome == "failed"
    assert error.startswith("credentials secret charlee/staging/key is outside charlee/prod/")
    assert http_server.requests_to("/jobs") == []


def test_credentials_are_never_sent_over_http_to_another_machine(
    stack_prefix: str, pg_engine: Engine
) -> None:
    name = "charlee/prod/key"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=name, SecretString=json.dumps({"api_key": "k"})
    )
    config = {"url": "http://jobs.example.com/api", "items": "jobs", "headers": {"X-Api-Key": "{api_key}"}}
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config, credentials_secret=name)

    outcome, error = collect_once(pg_engine, platform_id)

    assert outcome == "failed"
    assert "a credentials secret is never sent over http:// (http://jobs.example.com/api)" in error


@pytest.fixture
def cli(tmp_path: Path, pg_engine: Engine, postgres_url: URL) -> Cli:
    return Cli(tmp_path, {"DATABASE_URL": postgres_url.render_as_string(hide_password=False)})


def test_the_cli_refuses_what_the_collector_would(cli: Cli) -> None:
    def add(secret: str, url: str, **env: str) -> str:
        config = json.dumps({"url": url})
        result = cli(
            "platforms", "add", "--user", "1", "--name", "n", "--source", "rss", "--config", config,
            "--credentials-secret", secret, expect=2, env=env,
        )  # fmt: skip
        return result.stderr.strip()

    assert add("charlee/key", "https://jobs.example.com/feed") == (
        "error: credentials secret charlee/key is not named charlee/<stack>/<name>, the only secrets a stack reads"
    )
    assert add(
        "charlee/staging/key", "https://jobs.example.com/feed", PLATFORM_SECRET_PREFIX="charlee/prod/"
    ) == (
        "error: credentials secret charlee/staging/key is outside charlee/prod/: the stack's functions may "
        "read only secrets named charlee/prod/<name>"
    )
    assert add("charlee/prod/key", "http://jobs.example.com/feed") == (
        "error: a credentials secret is never sent over http:// (http://jobs.example.com/feed): use the "
        "https:// URL"
    )
