"""Dispatch: claim due platforms and enqueue them to SQS (a moto server over HTTP on 127.0.0.1).

Side by side in one run: the dispatcher (claim in batches, SendMessageBatch of 10, a few sends in
flight) against one ``send_message`` per platform in a loop after the same claim. Also prints
the claim query's plan, to confirm it is served by the partial index, and a scaling table.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from _db import report, scratch_database
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.server import ThreadedMotoServer
from moto.sqs.models import sqs_backends
from sqlalchemy import Engine, insert, text

from charlee_collector.dispatch import dispatch
from charlee_collector.messages import DispatchRequest
from charlee_collector.models import platforms, utcnow
from charlee_collector.storage import claim_due_platforms, due_platforms_query

PLATFORMS = 10_000
LOOP_SAMPLE = 2_000  # the one-call-per-platform loop is timed on a sample: its cost is linear
SCALING = (1_000, 10_000, 100_000)


def seed(engine: Engine, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "user_id": i % 50,
            "name": f"platform {i}",
            "source": "rss",
            "config": {"url": f"https://example.org/{i}.xml"},
            "collection_interval_minutes": 15,
            "created_at": now,
            "updated_at": now,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE freelance_platforms RESTART IDENTITY CASCADE"))
        for start in range(0, count, 5_000):
            conn.execute(insert(platforms), rows[start : start + 5_000])
        conn.execute(text("ANALYZE freelance_platforms"))


def new_queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def serve_moto() -> None:
    """The SQS stand-in, in its own process (its CPU is not the dispatcher's), drained as it fills.

    moto recounts every message of a queue on each send (its queue attributes), so a queue that
    only grows makes each send slower than the last: a cost of the stand-in, not of SQS. Here the
    queues are emptied every 50 ms, as collectors would consume them, for both methods alike
    (PurgeQueue is allowed once a minute, so the server's own state is cleared in place).
    """
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's access log would drown the figures
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    print(server.get_host_and_port()[1], flush=True)
    while True:
        time.sleep(0.05)
        for queue in list(sqs_backends[ACCOUNT]["us-east-1"].queues.values()):
            with queue._messages_lock:
                queue._messages.clear()


@contextmanager
def moto_process() -> Iterator[str]:
    process = subprocess.Popen([sys.executable, __file__, "--serve-moto"], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}"
    finally:
        process.terminate()
        process.wait()


def time_dispatcher(engine: Engine, sqs: Any, queue_url: str) -> tuple[float, int]:
    started = time.perf_counter()
    summary = dispatch(engine, sqs, queue_url, DispatchRequest("schedule"), batch_size=500)
    return time.perf_counter() - started, summary.dispatched


def time_loop(engine: Engine, sqs: Any, queue_url: str, limit: int) -> tuple[float, int]:
    started = time.perf_counter()
    with engine.begin() as conn:
        claims = claim_due_platforms(conn, now=utcnow(), limit=limit)
    for claim in claims:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"platform_id": claim.platform_id}))
    return time.perf_counter() - started, len(claims)


def print_plan(engine: Engine) -> None:
    with engine.connect() as conn:
        compiled = due_platforms_query(utcnow(), 100).compile(dialect=conn.dialect)
        params = tuple(compiled.params[name] for name in compiled.positiontup or [])
        plan = [row[0] for row in conn.exec_driver_sql("EXPLAIN " + compiled.string, params)]
    for line in plan:
        print(f"# plan: {line}")
    uses_index = any("ix_freelance_platforms_due" in line for line in plan)
    report("dispatch_claim_uses_due_index", 1 if uses_index else 0, "bool")


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    with moto_process() as endpoint, scratch_database("charlee_bench_dispatch", pool_size=4) as engine:
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
        seed(engine, PLATFORMS)
        print_plan(engine)
        seconds, sent = time_dispatcher(engine, sqs, new_queue(sqs, "dispatcher"))
        assert sent == PLATFORMS, sent
        dispatcher_rate = sent / seconds
        seed(engine, LOOP_SAMPLE)
        loop_seconds, loop_sent = time_loop(engine, sqs, new_queue(sqs, "loop"), LOOP_SAMPLE)
        loop_rate = loop_sent / loop_seconds
        report("dispatch_dispatcher_platforms_per_s", dispatcher_rate, "platforms/s")
        report("dispatch_dispatcher_10k_seconds", seconds, "s")
        report(f"dispatch_send_message_loop_platforms_per_s_{LOOP_SAMPLE}_sample", loop_rate, "platforms/s")
        report("dispatch_dispatcher_vs_loop", dispatcher_rate / loop_rate, "x")
        for count in SCALING:
            seed(engine, count)
            seconds, sent = time_dispatcher(engine, sqs, new_queue(sqs, f"scale-{count}"))
            report(f"dispatch_scaling_{count}_seconds", seconds, "s")
            report(f"dispatch_scaling_{count}_platforms_per_s", sent / seconds, "platforms/s")


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-moto"]:
        serve_moto()
    else:
        main()
