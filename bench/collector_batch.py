"""Collector batch: 10 platforms whose server answers after 100 ms, each with 50 items.

Side by side in one run: the collector handler (records of one SQS batch processed
concurrently, COLLECTOR_CONCURRENCY=10) against the same work done one platform after another
(``collect.collect_platform`` in a loop). Each measured batch gets its own 10 platforms, so each
inserts 500 new opportunities into PostgreSQL. The handler is measured twice: first on a cold
pool (one connection open, as on a new instance after its first record: nine are opened inside
the batch), then on a warm pool (ten open, as on every later batch of that instance).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _db import ROOT, report, scratch_database

sys.path[:0] = [str(ROOT / "functions" / "collector")]

from sqlalchemy import Engine, insert  # noqa: E402

from charlee_collector.app import runtime  # noqa: E402
from charlee_collector.app.collect import collect_platform  # noqa: E402
from charlee_collector.app.messages import CollectMessage  # noqa: E402
from charlee_collector.core.clock import utcnow  # noqa: E402
from charlee_collector.store.tables import platforms  # noqa: E402
from charlee_collector_tools.local.handlers import LocalLambdaContext  # noqa: E402
from charlee_collector_tools.local.poller import sqs_event  # noqa: E402

PLATFORMS = 10
ITEMS = 50
LATENCY_S = 0.1
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-collect"
PREFIXES = ("warm", "cold", "handler", "sequential")


def payload(platform: int) -> bytes:
    """A remotive-shaped answer: 50 jobs with ~1 KB HTML descriptions."""
    jobs = [
        {
            "id": platform * 1000 + i,
            "url": f"https://remotive.com/remote-jobs/software-development/job-{platform}-{i}",
            "title": f"Senior Python Engineer {platform}-{i}",
            "company_name": "Initech",
            "category": "Software Development",
            "tags": ["python", "django", "aws", "postgresql"],
            "job_type": "contract",
            "publication_date": "2026-11-20T09:30:00",
            "candidate_required_location": "Worldwide",
            "salary": "$60-$90 /hour",
            "description": "<p>We build <strong>APIs</strong> for payments.</p>" * 20
            + "<ul><li>Python</li><li>AWS</li></ul>",
        }
        for i in range(ITEMS)
    ]
    return json.dumps({"job-count": ITEMS, "jobs": jobs}).encode()


class _SlowFiles(SimpleHTTPRequestHandler):
    """Serves the payload files after ``latency_s``, like a platform far away."""

    latency_s = LATENCY_S

    def do_GET(self) -> None:
        if self.latency_s:
            time.sleep(self.latency_s)
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(directory: str, latency_s: float) -> None:
    """The platforms' server, in its own process so its CPU is not the collector's."""
    _SlowFiles.latency_s = latency_s  # this process serves nothing else
    handler = partial(_SlowFiles, directory=directory)
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


def serve_files(directory: Path, latency_s: float = LATENCY_S) -> tuple[subprocess.Popen[str], str]:
    """A server process for the files under ``directory`` and its base URL."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(directory), str(latency_s)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, f"http://127.0.0.1:{process.stdout.readline().strip()}"


def start_server(directory: Path) -> tuple[subprocess.Popen[str], str]:
    for prefix in PREFIXES:
        (directory / prefix).mkdir()
        for n in range(PLATFORMS):
            (directory / prefix / f"{n}.json").write_bytes(payload(n))
    return serve_files(directory)


@contextmanager
def quiet_stdout() -> Iterator[None]:
    """Standard output (the handler's EMF and log lines) to /dev/null, at the descriptor, so the
    lines are still formatted and written as in a Lambda, only not shown among the figures."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def seed(
    engine: Engine,
    base_url: str,
    prefix: str,
    count: int = PLATFORMS,
    *,
    same_file: bool = False,
    source: str = "remotive",
    suffix: str = ".json",
) -> list[int]:
    """``count`` new ``source`` platforms, platform n reading ``prefix/<n><suffix>`` (all of them
    ``prefix/0<suffix>`` with ``same_file``: one request shared by every platform)."""
    ids = []
    with engine.begin() as conn:
        for n in range(count):
            now = utcnow()
            ids.append(
                conn.execute(
                    insert(platforms)
                    .values(
                        user_id=1,
                        name=f"{prefix} {n}",
                        source=source,
                        config={"url": f"{base_url}/{prefix}/{0 if same_file else n}{suffix}"},
                        created_at=now,
                        updated_at=now,
                    )
                    .returning(platforms.c.id)
                ).scalar_one()
            )
    return ids


def main() -> None:
    scratch = tempfile.TemporaryDirectory()
    server, base_url = start_server(Path(scratch.name))
    os.environ.update(
        COLLECTOR_ALLOW_PRIVATE_NETWORKS="true",
        COLLECTOR_CONCURRENCY=str(PLATFORMS),
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        with scratch_database("charlee_bench_collector", pool_size=PLATFORMS) as engine:
            os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
            os.environ["DB_POOL_SIZE"] = str(PLATFORMS)
            runtime.reset()
            import collector_handler

            rt = runtime.get_runtime()
            warm = seed(engine, base_url, "warm")  # first use builds the engine, client and parsers
            with quiet_stdout():
                collect_platform(
                    rt.engine, rt.http, CollectMessage(platform_id=warm[0], trigger="schedule"), rt.settings
                )

            def handler_batch(prefix: str) -> float:
                messages = [
                    {
                        "MessageId": f"m-{i}",
                        "ReceiptHandle": f"r-{i}",
                        "Body": json.dumps({"platform_id": i, "trigger": "schedule"}),
                    }
                    for i in seed(engine, base_url, prefix)
                ]
                started = time.perf_counter()
                answer = collector_handler.handler(
                    sqs_event(messages, QUEUE_ARN), LocalLambdaContext("Bench")
                )
                elapsed = time.perf_counter() - started
                assert answer == {"batchItemFailures": []}, answer
                return elapsed

            with quiet_stdout():
                cold = handler_batch("cold")  # the pool holds one connection: nine are opened here
                concurrent = handler_batch("handler")  # every connection of the pool is open now

                sequential_ids = seed(engine, base_url, "sequential")
                started = time.perf_counter()
                for platform_id in sequential_ids:
                    result = collect_platform(
                        rt.engine,
                        rt.http,
                        CollectMessage(platform_id=platform_id, trigger="schedule"),
                        rt.settings,
                    )
                    assert result.inserted == ITEMS, result
                sequential = time.perf_counter() - started
            report("collector_batch_handler_seconds", concurrent, "s")
            report("collector_batch_handler_cold_pool_seconds", cold, "s")
            report("collector_batch_sequential_seconds", sequential, "s")
            report("collector_batch_handler_vs_sequential", sequential / concurrent, "x")
            report("collector_batch_handler_vs_sequential_cold_pool", sequential / cold, "x")
            runtime.reset()
    finally:
        server.terminate()
        scratch.cleanup()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2], float(sys.argv[3]) if sys.argv[3:] else LATENCY_S)
    else:
        main()
