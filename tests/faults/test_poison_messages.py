"""Poison messages: bodies that are not JSON or fail the schema go to the DLQ after
MaxReceiveCount receives, byte for byte as they were sent, and leave their batch alone."""

from __future__ import annotations

import hashlib
import io
import json

from charlee_collector.observability.logger import logger
from tests.faults.conftest import FaultEnv
from tests.faults.harness import body, jobs_payload, json_api_config, poller, runs_of, send
from tests.support.aws import MAX_RECEIVE_COUNT
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

POISON = [
    "this is not JSON",
    '{"platform_id": 1',  # truncated
    '  {"platform_id": 1,}\n',  # trailing comma, surrounding whitespace
    "null",
    "[1, 2, 3]",
    '{"platform_id": "1"}',  # a string where an integer belongs
    '{"platform_id": -4, "trigger": "schedule"}',
    '{"platform_id": 1, "requested_at": "yesterday", "note": "caf\u00e9 \u2603 \U0001f680 \u05e9\u05dc\u05d5\u05dd"}',
]


def test_poison_reaches_the_dlq_unchanged_and_its_batch_mates_succeed_first_time(
    fault_env: FaultEnv, http_server: LocalHTTPServer
) -> None:
    http_server.route("/jobs", body=jobs_payload(3))
    poison = POISON  # eight, with the two good ones: one receive of ten
    with fault_env.engine.begin() as conn:
        good = [
            add_platform(conn, source="json_api", config=json_api_config(http_server.url("/jobs")))
            for _ in range(2)
        ]
    good_ids = send(fault_env.queues, body(good[0]), *poison[:4], body(good[1]), *poison[4:])
    good_ids = [good_ids[0], good_ids[5]]

    running = poller(fault_env.queues)
    assert running.poll_once() == 10
    # The two good records were collected on their first receive and deleted; only the poison
    # was reported failed.
    assert (running.stats.succeeded, running.stats.failed) == (2, 8)
    for platform_id, message_id in zip(good, good_ids, strict=True):
        [run] = runs_of(fault_env.engine, platform_id)
        assert (run.outcome, run.inserted, run.message_id) == ("success", 3, message_id)

    running.drain(timeout_seconds=60, idle_wait_seconds=0.05)

    dead = fault_env.queues.receive_all(fault_env.queues.dlq_url)
    assert sorted(m["Body"] for m in dead) == sorted(poison)
    for m in dead:
        assert m["MD5OfBody"] == hashlib.md5(m["Body"].encode()).hexdigest()
        assert int(m["Attributes"]["ApproximateReceiveCount"]) >= MAX_RECEIVE_COUNT
    assert fault_env.queues.depth() == 0
    # Each poison message was handed to the handler MaxReceiveCount times, the good ones once.
    assert running.stats.received == 2 + len(poison) * MAX_RECEIVE_COUNT
    assert len(runs_of(fault_env.engine, good[0])) == 1


def test_poison_message_is_logged_with_its_message_id(fault_env: FaultEnv) -> None:
    [message_id] = send(fault_env.queues, POISON[-1])
    handler = logger.registered_handler
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        running = poller(fault_env.queues)
        running.poll_once()
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    assert running.stats.failed == 1
    logged = [json.loads(line) for line in stream.getvalue().splitlines()]
    [entry] = [e for e in logged if e["message"] == "invalid collect message"]
    assert entry["level"] == "ERROR"
    assert entry["message_id"] == message_id
    assert "requested_at" in entry["error"]
