"""The command against a real SQS endpoint: a moto server on 127.0.0.1, fed by the real AWS CLI.

A person sends ``{"platform_id": N}`` with ``aws sqs send-message``; ``local poll`` hands it to
the collector handler on this machine and the opportunities land in PostgreSQL. A failing
platform's message reaches the DLQ after maxReceiveCount receives; ``dlq list`` shows it and
``dlq redrive`` moves it back. A redrive interrupted between send and delete loses nothing.
"""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from charlee_collector.store.tables import opportunities, platforms, runs
from tests.support.cli import FEED_ITEMS, Cli, rss
from tests.support.factories import add_platform
from tests.support.moto_server import DUMMY_AWS, FaultProxy, MotoQueues

AWS = str(Path(sys.executable).parent / "aws")


@pytest.fixture
def cli(tmp_path: Path, pg_engine: Engine, postgres_url, moto_queues: MotoQueues) -> Cli:
    return Cli(
        tmp_path,
        {
            "DATABASE_URL": postgres_url.render_as_string(hide_password=False),
            "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true",
            **moto_queues.server.env,
        },
    )


def aws_send(moto_queues: MotoQueues, body: str) -> str:
    """``aws sqs send-message``, the real CLI; returns the message id."""
    completed = subprocess.run(
        [
            AWS, "sqs", "send-message",
            "--endpoint-url", moto_queues.server.endpoint,
            "--queue-url", moto_queues.queue_url,
            "--message-body", body,
            "--output", "json",
        ],
        capture_output=True, text=True, timeout=60, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent", **DUMMY_AWS},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)["MessageId"]


def add_feed(engine: Engine, name: str, url: str, **values: object) -> int:
    """A platform straight into the database (``platforms add`` is tested in test_cli.py)."""
    with engine.begin() as conn:
        return add_platform(conn, **{"name": name, "config": {"url": url}, "auto_collect": False, **values})


def test_message_sent_with_the_aws_cli_is_collected(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    platform_id = add_feed(pg_engine, "Local feed", http_server.url("/feed.xml"))
    message_id = aws_send(moto_queues, json.dumps({"platform_id": platform_id}))

    polled = cli("local", "poll", "--queue-url", moto_queues.queue_url, "--json")

    assert [(p["platform_id"], p["outcome"], p["inserted"]) for p in polled.json] == [
        (platform_id, "success", 3)
    ]
    with pg_engine.connect() as conn:
        titles = set(conn.execute(select(opportunities.c.title)).scalars())
        run = conn.execute(select(runs.c.message_id, runs.c.trigger, runs.c.outcome)).one()
    assert titles == {title for title, _ in FEED_ITEMS}
    assert tuple(run) == (message_id, "on_demand", "success")
    assert moto_queues.depth(moto_queues.queue_url) == {"visible": 0, "in_flight": 0}


def test_queue_commands_send_what_the_lambda_expects(
    cli: Cli, moto_queues: MotoQueues, pg_engine: Engine
) -> None:
    a = add_feed(pg_engine, "A", "https://example.org/a.xml")
    b = add_feed(pg_engine, "B", "https://example.org/b.json", source="remotive", auto_collect=True)

    sent = cli("collect", str(a), "--queue-url", moto_queues.queue_url, "--json").json
    assert [s["platform_id"] for s in sent] == [a]
    dispatched = cli("dispatch", "--queue-url", moto_queues.queue_url, "--json").json
    assert dispatched == [{"due": 1, "dispatched": 1, "failed": 0}]  # A does not auto-collect
    assert len(cli("collect", "--user", "1", "--queue-url", moto_queues.queue_url, "--json").json) == 2

    bodies = [json.loads(m["Body"]) for m in moto_queues.messages(moto_queues.queue_url)]
    assert {"platform_id": a, "trigger": "on_demand", "force": True} in bodies
    scheduled = [body for body in bodies if body["trigger"] == "schedule"]
    assert [(body["platform_id"], body["force"]) for body in scheduled] == [(b, False)]
    assert len(bodies) == 4

    status = cli("status", "--queue-url", moto_queues.queue_url, "--json").json
    assert status["queues"]["queue"]["visible"] == 4
    assert status["queues"]["dlq"]["url"] == moto_queues.dlq_url  # found through the RedrivePolicy


def test_failing_message_goes_to_the_dlq_and_is_redriven(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    platform_id = add_feed(pg_engine, "Not yet up", "http://127.0.0.1:9/feed.xml")
    aws_send(moto_queues, json.dumps({"platform_id": platform_id}))

    polled = cli(
        "local", "poll", "--queue-url", moto_queues.queue_url, "--json", "--log-level", "critical", expect=1
    )
    [outcome] = polled.json
    assert (outcome["outcome"], outcome["attempts"]) == ("failed", 5)  # maxReceiveCount, then the DLQ
    assert moto_queues.depth(moto_queues.dlq_url)["visible"] == 1

    listed = cli("dlq", "list", "--dlq-url", moto_queues.dlq_url, "--json").json
    assert [json.loads(m["body"]) for m in listed] == [{"platform_id": platform_id}]
    # Without --dlq-url the DLQ is found through the collect queue's RedrivePolicy.
    assert (
        f'{{"platform_id": {platform_id}}}' in cli("dlq", "list", "--queue-url", moto_queues.queue_url).stdout
    )

    # The platform comes back up; the operator sends the message back.
    http_server.route("/feed.xml", body=rss())
    with pg_engine.begin() as conn:
        conn.execute(
            update(platforms)
            .where(platforms.c.id == platform_id)
            .values(config={"url": http_server.url("/feed.xml")})
        )
    redriven = cli("dlq", "redrive", "--dlq-url", moto_queues.dlq_url, "--queue-url", moto_queues.queue_url)
    assert "moved 1 message" in redriven.stdout
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 0, "in_flight": 0}

    again = cli("local", "poll", "--queue-url", moto_queues.queue_url, "--json")
    assert [(p["outcome"], p["inserted"]) for p in again.json] == [("success", 3)]


def test_poll_counts_messages_and_reports_what_went_to_the_dlq(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    feed = add_feed(pg_engine, "Feed", http_server.url("/feed.xml"))
    down = add_feed(pg_engine, "Down", "http://127.0.0.1:9/feed.xml")
    aws_send(moto_queues, json.dumps({"platform_id": feed}))
    down_id = aws_send(moto_queues, json.dumps({"platform_id": down}))
    not_json = aws_send(moto_queues, "not json")
    bad_id = aws_send(moto_queues, '{"platform_id": "seven"}')

    # Handler logs off (critical only): what is left on stderr is the summary's own line.
    polled = cli("local", "poll", "--queue-url", moto_queues.queue_url, "--log-level", "critical", expect=1)

    # 4 messages, 1 received once and 3 received 5 times (maxReceiveCount) each.
    assert "Polled 4 message(s)" in polled.stdout and "(16 receives: retries included)" in polled.stdout
    [down_row] = [line for line in polled.stdout.splitlines() if "│ Down " in line]
    assert "│ failed " in down_row and "gave up after 5 attempts (message dead-lettered)" in down_row
    assert "will be retried" not in polled.stdout
    rows = {line.split("│")[1].strip(): line for line in polled.stdout.splitlines() if "│" in line}
    assert "Dead-lettered messages that name no platform (2)" in polled.stdout
    assert "collect message is not JSON" in rows[not_json]
    assert "fails its schema: platform_id" in rows[bad_id]
    assert polled.stderr.strip().splitlines() == [
        "1 platform(s) failed, 3 message(s) dead-lettered; see the Error column (and `charlee-collector dlq list`)"
    ]
    listed = cli("dlq", "list", "--dlq-url", moto_queues.dlq_url, "--json").json
    assert {m["message_id"] for m in listed} == {not_json, bad_id, down_id}


def test_poll_with_only_poison_messages_exits_1_and_json_lists_no_platform(
    cli: Cli, moto_queues: MotoQueues
) -> None:
    aws_send(moto_queues, "[1, 2]")

    polled = cli(
        "local", "poll", "--queue-url", moto_queues.queue_url, "--json", "--log-level", "critical", expect=1
    )

    assert polled.json == []
    assert polled.stderr.strip().splitlines() == [
        "0 platform(s) failed, 1 message(s) dead-lettered; see the Error column (and `charlee-collector dlq list`)"
    ]
    assert moto_queues.depth(moto_queues.dlq_url)["visible"] == 1
    assert "the queue was empty" in cli("local", "poll", "--queue-url", moto_queues.queue_url).stdout


def _dlq_message(moto_queues: MotoQueues) -> str:
    body = json.dumps({"platform_id": 42})
    moto_queues.sqs.send_message(QueueUrl=moto_queues.dlq_url, MessageBody=body)
    return body


def test_redrive_killed_between_send_and_delete_loses_nothing(
    cli: Cli, moto_queues: MotoQueues, fault_proxy: FaultProxy
) -> None:
    body = _dlq_message(moto_queues)
    fault_proxy.hold("DeleteMessageBatch")
    command = [
        sys.executable, "-m", "charlee_collector", "dlq", "redrive",
        "--endpoint-url", fault_proxy.endpoint,
        "--dlq-url", moto_queues.dlq_url, "--queue-url", moto_queues.queue_url,
        "--visibility-timeout", "2",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=cli.base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert fault_proxy.held.wait(timeout=60), "the redrive never reached its delete"
        process.send_signal(signal.SIGKILL)  # killed after the send, before the delete
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert fault_proxy.seen[-2:] == ["SendMessageBatch", "DeleteMessageBatch"]

    assert [m["Body"] for m in moto_queues.messages(moto_queues.queue_url)] == [body]
    time.sleep(2.5)  # the DLQ copy comes back when its visibility timeout ends: a duplicate, not a loss
    assert [m["Body"] for m in moto_queues.messages(moto_queues.dlq_url)] == [body]


def test_redrive_whose_delete_fails_says_so(
    cli: Cli, moto_queues: MotoQueues, fault_proxy: FaultProxy
) -> None:
    body = _dlq_message(moto_queues)
    fault_proxy.fail("DeleteMessageBatch")

    result = cli(
        "dlq", "redrive", "--endpoint-url", fault_proxy.endpoint,
        "--dlq-url", moto_queues.dlq_url, "--queue-url", moto_queues.queue_url,
        expect=1,
    )  # fmt: skip

    assert "duplicates, not losses" in result.stderr and "AccessDenied" in result.stderr
    assert [m["Body"] for m in moto_queues.messages(moto_queues.queue_url)] == [body]
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 0, "in_flight": 1}


def test_poll_accounts_for_every_message_and_logs_each_line_once(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    feed = add_feed(pg_engine, "Feed", http_server.url("/feed.xml"))
    other = add_feed(pg_engine, "Other", http_server.url("/feed.xml"))
    for platform_id in (feed, other, 987_654):
        aws_send(moto_queues, json.dumps({"platform_id": platform_id}))

    polled = cli("local", "poll", "--queue-url", moto_queues.queue_url, "--log-level", "info")

    # The message naming no platform is acknowledged (as in AWS) and has a row of its own.
    assert "Polled 3 message(s)" in polled.stdout
    rows = {line.split("│")[1].strip(): line for line in polled.stdout.splitlines() if "│" in line}
    assert set(rows) == {str(feed), str(other), "987654"}
    assert "│ unknown " in rows["987654"]
    assert (
        "no platform 987654 (unknown or deleted): message acknowledged, nothing collected" in rows["987654"]
    )
    # Each handler log line once: the JSON line, not a second plain copy of it.
    lines = polled.stderr.strip().splitlines()
    assert [line for line in lines if "collection finished" in line] == [
        line for line in lines if line.startswith('{"level":"INFO"') and "collection finished" in line
    ]
    assert len([line for line in lines if "collection finished" in line]) == 2
    assert not [line for line in lines if "platform unknown or deleted" in line and not line.startswith("{")]
    assert (
        lines[-1] == "1 message(s) named no platform: acknowledged, nothing collected (see the Error column)"
    )

    as_json = cli("local", "poll", "--queue-url", moto_queues.queue_url, "--json")
    assert as_json.json == []  # the queue is empty now: every message was taken


def test_poll_forever_shows_progress_without_a_terminal_and_stops_on_sigterm(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    feed = add_feed(pg_engine, "Feed", http_server.url("/feed.xml"))
    aws_send(moto_queues, json.dumps({"platform_id": feed}))
    command = [
        sys.executable, "-m", "charlee_collector", "local", "poll", "--forever",
        "--queue-url", moto_queues.queue_url,
    ]  # fmt: skip
    process = subprocess.Popen(
        command, env=cli.base_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        stream = process.stderr
        assert stream is not None
        first: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: first.put(stream.readline()), daemon=True).start()
        progress = first.get(timeout=60)  # waits for the condition: the first progress line
        assert progress.rstrip().endswith("polling: 1 done, 0 to retry (1 message(s) so far)"), progress
        process.send_signal(signal.SIGTERM)  # while it waits for more messages
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()

    assert process.returncode == 0
    assert stderr.strip().splitlines() == ["stopped"]
    assert "Polled 1 message(s)" in stdout and "│ Feed " in stdout
