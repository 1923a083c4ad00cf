"""``collect N --queue-url URL --wait``: send, follow the run the message produces, exit by its outcome.

The real command runs as a subprocess against a moto SQS server and PostgreSQL; the collector
worker is ``local poll`` (the collector handler on this machine) consuming the queue once the
message is in it; the platform's feed comes from the local HTTP server. Without a consumer the
wait times out, says so, and leaves the message queued.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.support.cli import FEED_ITEMS, Cli, rss
from tests.support.factories import add_platform
from tests.support.moto_server import FaultProxy, MotoQueues


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


def add_feed(engine: Engine, name: str, url: str) -> int:
    with engine.begin() as conn:
        return add_platform(conn, name=name, config={"url": url}, auto_collect=False)


def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``condition`` until it holds; fail the test if it never does."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.05)


def start_collect(cli: Cli, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "charlee_collector", "collect", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli.base_env(),
    )


def collected_by_a_worker(
    cli: Cli, moto_queues: MotoQueues, *args: str, messages: int = 1
) -> tuple[int, str, str]:
    """Run ``collect --wait``; once its messages are queued, a worker collects them; the waiter's result."""
    waiter = start_collect(cli, *args, "--queue-url", moto_queues.queue_url, "--wait", "--timeout", "120")
    try:
        wait_until(lambda: moto_queues.depth(moto_queues.queue_url)["visible"] == messages)
        assert waiter.poll() is None  # still waiting: nothing has collected the message yet
        cli("local", "poll", "--queue-url", moto_queues.queue_url, expect=None)
        stdout, stderr = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()
    return waiter.returncode, stdout, stderr


def test_wait_follows_the_run_to_its_success(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    platform_id = add_feed(pg_engine, "Local feed", http_server.url("/feed.xml"))

    code, stdout, stderr = collected_by_a_worker(cli, moto_queues, str(platform_id))

    assert code == 0, stderr
    assert stderr == ""
    queued = re.search(rf"^queued platform {platform_id} \(message ([\w-]+)\)$", stdout, re.MULTILINE)
    assert queued, stdout
    [row] = [line for line in stdout.splitlines() if "│ Local feed " in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:6] == [  # Platform, Name, Outcome, Fetched, Filtered, New
        str(platform_id),
        "Local feed",
        "success",
        str(len(FEED_ITEMS)),
        "0",
        str(len(FEED_ITEMS)),
    ]
    assert moto_queues.depth(moto_queues.queue_url) == {"visible": 0, "in_flight": 0}


def test_a_sender_that_may_not_read_the_queue_attributes_still_waits(
    cli: Cli, moto_queues: MotoQueues, fault_proxy: FaultProxy, http_server, pg_engine: Engine
) -> None:
    """IAM may allow SendMessage only: the default wait is then the deployed 720 s, not an error."""
    http_server.route("/feed.xml", body=rss())
    platform_id = add_feed(pg_engine, "Local feed", http_server.url("/feed.xml"))
    fault_proxy.fail("GetQueueAttributes")

    waiter = start_collect(
        cli,
        str(platform_id),
        "--queue-url",
        moto_queues.queue_url,
        "--endpoint-url",
        fault_proxy.endpoint,
        "--wait",
    )
    try:
        wait_until(lambda: "GetQueueAttributes" in fault_proxy.seen)  # refused, after the send
        cli("local", "poll", "--queue-url", moto_queues.queue_url, expect=None)
        stdout, stderr = waiter.communicate(timeout=60)
    finally:
        if waiter.poll() is None:
            waiter.kill()

    assert waiter.returncode == 0, stderr
    assert "│ success " in stdout


def test_wait_for_a_users_platforms_reports_the_failed_one_and_exits_1(
    cli: Cli, moto_queues: MotoQueues, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    http_server.route("/gone.xml", status=404, body=b"no such feed")
    good = add_feed(pg_engine, "Local feed", http_server.url("/feed.xml"))
    gone = add_feed(pg_engine, "Gone", http_server.url("/gone.xml"))

    code, stdout, stderr = collected_by_a_worker(cli, moto_queues, "--user", "1", "--json", messages=2)

    assert code == 1, stderr
    outcomes = json.loads(stdout)  # with --json, stdout is the one document (no "queued" lines)
    assert [(o["platform_id"], o["outcome"]) for o in outcomes] == [(good, "success"), (gone, "failed")]
    assert outcomes[0]["inserted"] == len(FEED_ITEMS) and "404" in outcomes[1]["error"]
    assert len({o["message_id"] for o in outcomes}) == 2
    assert stderr == ""


def test_wait_without_a_consumer_times_out_and_leaves_the_message_queued(
    cli: Cli, moto_queues: MotoQueues, pg_engine: Engine
) -> None:
    platform_id = add_feed(pg_engine, "Nobody collects", "https://example.org/feed.xml")

    # No --timeout: the wait is the queue's visibility timeout (2 s for this test's queue).
    result = cli("collect", str(platform_id), "--queue-url", moto_queues.queue_url, "--wait", expect=1)

    message_id = re.search(r"\(message ([\w-]+)\)", result.stdout).group(1)  # type: ignore[union-attr]
    assert result.stderr.splitlines() == [
        "error: timed out after 2s: 1 of 1 message(s) have no finished run yet and are still in the "
        f"queue (or being collected): {message_id}"
    ]
    assert "timed_out" in result.stdout and "the message is still queued" in result.stdout
    assert [m["MessageId"] for m in moto_queues.messages(moto_queues.queue_url)] == [message_id]


def test_on_a_terminal_the_wait_shows_a_spinner(cli: Cli, moto_queues: MotoQueues, pg_engine: Engine) -> None:
    platform_id = add_feed(pg_engine, "Nobody collects", "https://example.org/feed.xml")
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "charlee_collector", "collect", str(platform_id),
             "--queue-url", moto_queues.queue_url, "--wait", "--timeout", "1"],
            stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=cli.base_env(),
        )  # fmt: skip
        os.close(terminal)
        screen = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            screen += chunk
        process.wait(timeout=60)
    finally:
        os.close(controller)
    assert process.returncode == 1
    text = screen.decode(errors="replace")
    assert "waiting for 1 of 1 run(s)" in text and "of 1s" in text
    assert "timed out after 1s" in text


def test_timeout_needs_wait_and_wait_here_collects_as_always(
    cli: Cli, http_server, pg_engine: Engine
) -> None:
    http_server.route("/feed.xml", body=rss())
    platform_id = add_feed(pg_engine, "Local feed", http_server.url("/feed.xml"))

    refused = cli("collect", str(platform_id), "--timeout", "5", expect=2)
    assert refused.stderr.splitlines() == ["error: --timeout goes with --wait"]

    # No queue: the collection runs in this process, which waits for it anyway.
    [outcome] = cli("collect", str(platform_id), "--wait", "--json").json
    assert (outcome["outcome"], outcome["inserted"]) == ("success", len(FEED_ITEMS))
