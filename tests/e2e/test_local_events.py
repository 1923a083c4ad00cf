"""On one machine: ``local run`` writes and publishes OpportunitiesCollected to the local bus, posts
the summary to EVENTS_WEBHOOK_URL (the local HTTP server), and ``events list`` / ``events publish``
show and flush the outbox, as real subprocesses."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from charlee_collector.store.tables import event_outbox
from tests.support.cli import FEED_ITEMS, Cli, local_cli, rss
from tests.support.factories import add_platform


@pytest.fixture
def local_db(local_engine: Engine) -> Engine:
    """The embedded default database the command uses (emptied after the test)."""
    return local_engine


@pytest.fixture
def cli(tmp_path: Path, http_server: Any, local_db: Engine, embedded_home: Path) -> Cli:
    http_server.route("/feed.xml", body=rss(), content_type="application/rss+xml")
    http_server.route("/hook", body="ok")
    with local_db.begin() as conn:
        add_platform(conn, name="We Work Remotely", config={"url": http_server.url("/feed.xml")})
    return local_cli(tmp_path, embedded_home, EVENTS_WEBHOOK_URL=http_server.url("/hook"))


def posted(http_server: Any) -> list[str]:
    return [json.loads(r.body)["text"] for r in http_server.requests_to("/hook")]


def test_a_local_run_publishes_to_the_local_bus_and_posts_the_summary(cli: Cli, http_server: Any) -> None:
    cli("local", "run", "--no-seed")

    (text,) = posted(http_server)
    first, second, *_ = FEED_ITEMS
    assert text.startswith(f"3 new on We Work Remotely: {first[0]} https://example.org/jobs/0, {second[0]} ")
    (event,) = cli.json("events", "list")
    assert event["published_at"] and event["attempts"] == 1 and event["last_error"] is None
    assert event["detail"]["summary"] == text
    assert [o["change"] for o in event["detail"]["opportunities"]] == ["new"] * 3
    assert cli.json("events", "list", "--pending") == []

    cli("local", "run", "--no-seed", "--force")  # nothing new: no event, no post
    assert len(posted(http_server)) == 1
    listed = cli("events", "list")
    assert len(listed.stdout.strip().splitlines()) == 5  # one row in its table
    assert "/hook" not in listed.stdout + listed.stderr  # the webhook's URL is a secret


def test_a_failing_webhook_keeps_the_event_pending_until_events_publish(
    cli: Cli, http_server: Any, local_db: Engine
) -> None:
    http_server.route("/hook", status=503, body="busy")
    cli("local", "run", "--no-seed")  # the collection itself succeeds

    (pending,) = cli.json("events", "list", "--pending")
    assert pending["published_at"] is None
    assert pending["last_error"].startswith("WebhookFailed: the webhook answered HTTP 503")
    failed = cli("events", "publish", expect=1)
    assert failed.stderr.count("\n") == 1 and "1 refused, 1 still pending" in failed.stderr

    http_server.route("/hook", body="ok")
    done = cli("events", "publish")
    assert "published 1 event(s) to the local bus and its webhook" in done.stderr
    with local_db.connect() as conn:
        assert conn.execute(select(event_outbox.c.published_at)).scalar_one() is not None
    assert len([r for r in http_server.requests_to("/hook") if r.method == "POST"]) == 3


def test_events_list_without_events_says_so(cli: Cli) -> None:
    listed = cli("events", "list")
    assert listed.stdout == "" and listed.stderr.strip() == "no events yet"


def test_a_webhook_nobody_listens_on_is_logged_as_what_happened(cli: Cli) -> None:
    with socket.socket() as sock:  # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"

    run = cli("local", "run", "--no-seed", "--log-level", "warning", env={"EVENTS_WEBHOOK_URL": closed})

    [refused] = [json.loads(line) for line in run.stderr.splitlines() if "event refused" in line]
    assert refused["message"] == "event refused by the bus; it stays in the outbox"
    assert refused["bus"] == "local"
    assert refused["error"] == (
        "WebhookFailed: the webhook could not be reached: connection refused (is its server running?)"
    )
    assert "EventBridge" not in run.stderr
