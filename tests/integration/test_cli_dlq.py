"""``dlq delete``, ``dlq purge`` and ``dlq redrive`` against a moto server, as a subprocess.

The operator deletes a message by the id ``dlq list`` shows; a purge asks on a terminal and needs
``--yes`` anywhere else; a redrive moves what the collector can read and leaves the rest.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import Cli
from tests.support.moto_server import FaultProxy, MotoQueues

UNREADABLE = ["not json", '{"platform_id": 0}', "[1, 2]"]


@pytest.fixture
def cli(tmp_path: Path, moto_queues: MotoQueues) -> Cli:
    return Cli(tmp_path, {**moto_queues.server.env, "COLLECT_QUEUE_URL": moto_queues.queue_url})


def dead(moto_queues: MotoQueues, *bodies: str) -> list[str]:
    """Put these bodies in the DLQ as SQS would have; returns their message ids."""
    return [
        moto_queues.sqs.send_message(QueueUrl=moto_queues.dlq_url, MessageBody=body)["MessageId"]
        for body in bodies
    ]


def bodies(moto_queues: MotoQueues, url: str) -> list[str]:
    return sorted(m["Body"] for m in moto_queues.messages(url))


def test_delete_removes_the_named_message_and_leaves_the_others_visible(
    cli: Cli, moto_queues: MotoQueues
) -> None:
    ids = dead(moto_queues, *UNREADABLE)
    listed = [m["message_id"] for m in cli("dlq", "list", "--json").json]
    assert sorted(listed) == sorted(ids)  # the ids the listing shows are the ones delete takes

    deleted = cli("dlq", "delete", ids[1])

    assert deleted.stdout.strip() == f"deleted {ids[1]}"
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 2, "in_flight": 0}
    assert bodies(moto_queues, moto_queues.dlq_url) == sorted([UNREADABLE[0], UNREADABLE[2]])


def test_delete_of_an_id_not_in_the_dlq_deletes_nothing_and_exits_1(
    cli: Cli, moto_queues: MotoQueues
) -> None:
    ids = dead(moto_queues, "not json", "[]")

    missing = cli("dlq", "delete", "no-such-message", expect=1)

    assert missing.stdout == ""
    assert missing.stderr.strip().splitlines() == [
        "error: not in the dead-letter queue (or in flight elsewhere): no-such-message"
    ]
    assert sorted(m["MessageId"] for m in moto_queues.messages(moto_queues.dlq_url)) == sorted(ids)

    # Several ids, one of them missing: the others are deleted, the missing one named.
    partly = cli("dlq", "delete", ids[0], "no-such-message", expect=1)
    assert partly.stdout.strip().splitlines() == [f"deleted {ids[0]}"]
    assert partly.stderr.strip().splitlines() == [
        "error: not in the dead-letter queue (or in flight elsewhere): no-such-message"
    ]
    assert [m["MessageId"] for m in moto_queues.messages(moto_queues.dlq_url)] == [ids[1]]


def test_delete_that_sqs_refuses_is_one_line_and_the_message_stays(
    cli: Cli, moto_queues: MotoQueues, fault_proxy: FaultProxy
) -> None:
    [message_id] = dead(moto_queues, "not json")
    fault_proxy.fail("DeleteMessageBatch")

    refused = cli("dlq", "delete", message_id, "--endpoint-url", fault_proxy.endpoint, expect=1)

    assert refused.stdout == ""
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("error: AWS error:") and "AccessDenied" in line
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 1, "in_flight": 0}


def test_purge_without_a_terminal_needs_yes(cli: Cli, moto_queues: MotoQueues) -> None:
    dead(moto_queues, *UNREADABLE)

    refused = cli("dlq", "purge", expect=2)

    assert refused.stderr.strip().splitlines() == [
        "error: purge deletes every message in the dead-letter queue: confirm with --yes"
    ]
    assert moto_queues.depth(moto_queues.dlq_url)["visible"] == 3
    purged = cli("dlq", "purge", "--yes")
    assert purged.stdout.strip() == f"purged {moto_queues.dlq_url}: ~3 message(s) deleted"
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 0, "in_flight": 0}


def purge_on_a_terminal(cli: Cli, answer: str) -> subprocess.CompletedProcess[str]:
    """``dlq purge`` with its stdin on a pseudo-terminal that types ``answer``."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "charlee_collector", "dlq", "purge"],
            stdin=terminal,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=cli.base_env(),
        )
        os.write(controller, f"{answer}\n".encode())
        stdout, stderr = process.communicate(timeout=60)
    finally:
        os.close(terminal)
        os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def test_purge_on_a_terminal_asks_first(cli: Cli, moto_queues: MotoQueues) -> None:
    dead(moto_queues, *UNREADABLE)

    declined = purge_on_a_terminal(cli, "n")
    assert declined.returncode == 1, declined.stderr
    # The prompt on stderr (the answer's newline is echoed by the terminal, not written there).
    prompt = f"delete all ~3 message(s) in {moto_queues.dlq_url}? [y/N]:"
    assert declined.stderr == f"{prompt}error: nothing purged\n"
    assert moto_queues.depth(moto_queues.dlq_url)["visible"] == 3

    confirmed = purge_on_a_terminal(cli, "y")
    assert confirmed.returncode == 0, confirmed.stderr
    assert "~3 message(s) deleted" in confirmed.stdout
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": 0, "in_flight": 0}


def test_redrive_moves_the_readable_messages_and_leaves_the_unreadable_ones(
    cli: Cli, moto_queues: MotoQueues
) -> None:
    # More than one receive batch of each kind, mixed.
    readable = [json.dumps({"platform_id": n}) for n in range(1, 15)]
    unreadable = UNREADABLE * 4
    mixed = [body for pair in zip(readable, unreadable, strict=False) for body in pair] + readable[12:]
    ids = dict(zip(dead(moto_queues, *mixed), mixed, strict=True))
    unreadable_ids = {mid for mid, body in ids.items() if body in UNREADABLE}
    assert len(unreadable_ids) == len(unreadable) and len(ids) == len(readable) + len(unreadable)

    redriven = cli("dlq", "redrive")

    lines = redriven.stdout.strip().splitlines()
    assert lines[0] == f"moved {len(readable)} message(s) to {moto_queues.queue_url}"
    assert lines[1].startswith(f"left {len(unreadable_ids)} unreadable message(s) in the DLQ")
    reasons = dict(line.strip().split(": ", 1) for line in lines[2:])
    assert set(reasons) == unreadable_ids
    assert all(reason.startswith("collect message") for reason in reasons.values())
    assert bodies(moto_queues, moto_queues.queue_url) == sorted(readable)
    # The unreadable ones are back in the DLQ, visible at once, each once.
    assert moto_queues.depth(moto_queues.dlq_url) == {"visible": len(unreadable_ids), "in_flight": 0}
    assert {m["MessageId"] for m in moto_queues.messages(moto_queues.dlq_url)} == unreadable_ids
