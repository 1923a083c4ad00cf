"""Dispatch: claim due platforms and enqueue them, against an SQS with real latency and against moto.

Side by side in one run: the dispatcher (claims of ``DEFAULT_BATCH_SIZE``, SendMessageBatch of
10, ``SEND_THREADS`` sends in flight, the next claim overlapping the sends) against one
``send_message`` per platform in a loop after the same claim.

- ``dispatch_latency_*``: against ``bench/sqs_standin.py`` (its own process, a fixed latency
  per call, almost no CPU: what real SQS looks like from the client), at 15 ms per call, the
  headline ``dispatch_latency_vs_loop``; the same at 5 and 30 ms; a sweep of claim sizes and
  send threads at 15 ms (``--no-sweep`` skips it); and the shipped defaults at 1k, 10k, 100k.
- ``dispatch_moto_*``: the same comparison against a moto server, labelled apart: moto spends
  1.3-1.5 ms of CPU per message, so it bounds the dispatcher and says little about SQS.

Also prints the claim query's plan, to confirm it is served by the partial index.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import boto3
from _db import report, scratch_database
from botocore.config import Config
from moto.core import DEFAULT_ACCOUNT_ID as ACCOUNT
from moto.server import ThreadedMotoServer
from moto.sqs.models import sqs_backends
from sqlalchemy import Engine, insert, text

from charlee_collector.app.dispatch import DEFAULT_BATCH_SIZE, SEND_THREADS, dispatch
from charlee_collector.app.messages import DispatchRequest
from charlee_collector.core.clock import utcnow
from charlee_collector.observability.logger import logger
from charlee_collector.store.platforms import claim_due_platforms, due_platforms_query
from charlee_collector.store.tables import platforms

PLATFORMS = 10_000
LOOP_SAMPLE = 300  # the one-call-per-platform loop is timed on a sample: its cost is linear
MOTO_LOOP_SAMPLE = 2_000
LATENCY_MS = 15.0
OTHER_LATENCIES_MS = (5.0, 30.0)
SWEEP_BATCH_SIZES = (100, 250, 500, 1_000)
SWEEP_THREADS = (8, 16, 32)
SCALING = (1_000, 10_000, 100_000)
REPEATS = 3  # dispatcher rates are the median of this many runs: the machine is shared and noisy
STANDIN = Path(__file__).resolve().parent / "sqs_standin.py"


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


def client(endpoint: str, pool: int = max(SWEEP_THREADS)) -> Any:
    """An SQS client whose connection pool is at least the send threads (botocore's default is 10)."""
    return boto3.client(
        "sqs", region_name="us-east-1", endpoint_url=endpoint, config=Config(max_pool_connections=pool)
    )


def new_queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=name)["QueueUrl"]


def queue_depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


# --- the two SQS servers, each in its own process (its CPU is not the dispatcher's) -------------


@contextmanager
def server_process(*arguments: str) -> Iterator[str]:
    """Run ``python <arguments>`` (a server that prints its port first); yields its endpoint."""
    process = subprocess.Popen([sys.executable, *arguments], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{process.stdout.readline().strip()}"
    finally:
        process.terminate()
        process.wait()


def standin_process(latency_ms: float) -> AbstractContextManager[str]:
    return server_process(str(STANDIN), "--latency-ms", str(latency_ms))


def serve_moto() -> None:
    """moto's server, drained as it fills.

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


def moto_process() -> AbstractContextManager[str]:
    return server_process(__file__, "--serve-moto")


# --- the two methods ------------------------------------------------------------------------------


def time_dispatcher(
    engine: Engine,
    sqs: Any,
    queue_url: str,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    send_threads: int = SEND_THREADS,
) -> float:
    """Platforms per second for one scheduled dispatch of everything seeded (all of it must go out)."""
    due = _due_count(engine)
    started = time.perf_counter()
    summary = dispatch(
        engine, sqs, queue_url, DispatchRequest("schedule"), batch_size=batch_size, send_threads=send_threads
    )
    seconds = time.perf_counter() - started
    if summary.dispatched != due or summary.failed:
        raise SystemExit(f"dispatcher: expected {due} dispatched, got {summary}")
    return due / seconds


def time_loop(engine: Engine, sqs: Any, queue_url: str, limit: int) -> float:
    """Platforms per second for one claim, then one ``send_message`` per claimed platform."""
    started = time.perf_counter()
    with engine.begin() as conn:
        claims = claim_due_platforms(conn, now=utcnow(), limit=limit)
    for claim in claims:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"platform_id": claim.platform_id}))
    return len(claims) / (time.perf_counter() - started)


def _due_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM freelance_platforms WHERE next_collection_at IS NULL")
            ).scalar_one()
        )


def one_dispatch_rate(
    engine: Engine, sqs: Any, queue_name: str, *, counts_messages: bool, **options: int
) -> float:
    """Platforms per second for one dispatch of ``PLATFORMS`` freshly seeded platforms to a new queue.

    ``counts_messages``: the server keeps what it received (the stand-in does; the moto server
    here is drained as it fills), so every message is checked to have arrived.
    """
    seed(engine, PLATFORMS)
    queue = new_queue(sqs, queue_name)
    rate = time_dispatcher(engine, sqs, queue, **options)
    if counts_messages and queue_depth(sqs, queue) != PLATFORMS:
        raise SystemExit(f"{queue_name}: the server did not receive every message")
    return rate


def compare(engine: Engine, endpoint: str, label: str, *, loop_sample: int) -> None:
    """The dispatcher (10k platforms) and the loop (a sample) against one server, and their ratio."""
    sqs = client(endpoint)
    counts = label.startswith("dispatch_latency")
    dispatcher_rate = statistics.median(
        one_dispatch_rate(engine, sqs, f"{label}-{n}", counts_messages=counts) for n in range(REPEATS)
    )
    seed(engine, loop_sample)
    loop_rate = time_loop(engine, sqs, new_queue(sqs, f"{label}-loop"), loop_sample)
    report(f"{label}_dispatcher_platforms_per_s", dispatcher_rate, "platforms/s")
    report(f"{label}_send_message_loop_platforms_per_s_{loop_sample}_sample", loop_rate, "platforms/s")
    report(f"{label}_vs_loop", dispatcher_rate / loop_rate, "x")


def sweep(engine: Engine, endpoint: str) -> None:
    """Claim sizes against send threads at 15 ms: what the defaults are chosen from.

    Every configuration runs once per round, ``REPEATS`` rounds, so a drift in the machine's
    speed touches them all alike; each figure is the median of its rounds.
    """
    clients = {threads: client(endpoint, threads) for threads in SWEEP_THREADS}
    rates: dict[tuple[int, int], list[float]] = {
        (threads, size): [] for threads in SWEEP_THREADS for size in SWEEP_BATCH_SIZES
    }
    for n in range(REPEATS):
        for (threads, size), seen in rates.items():
            seen.append(
                one_dispatch_rate(
                    engine,
                    clients[threads],
                    f"sweep-{threads}-{size}-{n}",
                    counts_messages=True,
                    batch_size=size,
                    send_threads=threads,
                )
            )
    for (threads, size), seen in rates.items():
        report(
            f"dispatch_latency_claim_{size}_threads_{threads}_platforms_per_s",
            statistics.median(seen),
            "platforms/s",
        )


def scaling(engine: Engine, endpoint: str) -> None:
    sqs = client(endpoint)
    for count in SCALING:
        seed(engine, count)
        started = time.perf_counter()
        rate = time_dispatcher(engine, sqs, new_queue(sqs, f"scale-{count}"))
        report(f"dispatch_latency_scaling_{count}_seconds", time.perf_counter() - started, "s")
        report(f"dispatch_latency_scaling_{count}_platforms_per_s", rate, "platforms/s")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-sweep", action="store_true", help="skip the claim size x threads sweep")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1k/10k/100k series")
    parser.add_argument("--no-moto", action="store_true", help="skip the moto comparison")
    args = parser.parse_args()
    logger.setLevel(logging.WARNING)  # one "dispatch finished" line per run would drown the figures
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    print(f"# dispatcher: claims of {DEFAULT_BATCH_SIZE}, {SEND_THREADS} send threads", flush=True)
    with scratch_database("charlee_bench_dispatch", pool_size=4) as engine:
        seed(engine, PLATFORMS)
        print_plan(engine)
        with standin_process(LATENCY_MS) as endpoint:
            compare(engine, endpoint, "dispatch_latency", loop_sample=LOOP_SAMPLE)
            if not args.no_sweep:
                sweep(engine, endpoint)
            if not args.no_scaling:
                scaling(engine, endpoint)
        for latency in OTHER_LATENCIES_MS:
            with standin_process(latency) as endpoint:
                compare(engine, endpoint, f"dispatch_latency_{latency:.0f}ms", loop_sample=LOOP_SAMPLE)
        if not args.no_moto:
            with moto_process() as endpoint:
                compare(engine, endpoint, "dispatch_moto", loop_sample=MOTO_LOOP_SAMPLE)


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-moto"]:
        serve_moto()
    else:
        main()
