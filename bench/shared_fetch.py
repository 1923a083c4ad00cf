"""Shared fetches: 10,000 platforms of 2,000 users over 9 distinct requests, through the collector.

Each platform is one of 9 distinct requests (8 remotive-shaped category queries, one page each,
and one arbeitnow board of 3 pages) with its own filters (keywords drawn from a pool), so every
platform keeps its own subset of the same response. All of them are collected by the collector
Lambda handler (``collector_handler.handler``, SQS-shaped batches of 10 records run concurrently)
by two collector processes (two instances, one per core, sharing nothing but the database), on
a scratch PostgreSQL database, against a local server in a process of its own, which counts
the requests it answers. Then the same run on a fresh database with sharing off
(``SHARED_FETCH_WINDOW_SECONDS=0``) for comparison. Figures:

- ``shared_fetch_platforms``, ``shared_fetch_distinct_requests``;
- ``shared_fetch_upstream_requests``: requests the server answered; it must equal the distinct
  requests times their pages (8 x 1 + 1 x 3 = 11), and the bench fails otherwise;
- ``shared_fetch_seconds``: wall time of the shared run's handler calls;
- ``shared_fetch_upstream_requests_unshared`` and ``shared_fetch_unshared_seconds``: the same
  platforms with sharing off (one request per platform and page).

    .venv/bin/python bench/shared_fetch.py            # 10,000 platforms
    .venv/bin/python bench/shared_fetch.py 1000       # a quicker look
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _db import ROOT, report, scratch_database

sys.path[:0] = [str(ROOT / "functions" / "collector")]

from sqlalchemy import Engine, func, insert, select  # noqa: E402

from charlee_collector.app import runtime  # noqa: E402
from charlee_collector.core.clock import utcnow  # noqa: E402
from charlee_collector.store.tables import platforms, runs  # noqa: E402
from charlee_collector_tools.local.handlers import LocalLambdaContext  # noqa: E402
from charlee_collector_tools.local.poller import sqs_event  # noqa: E402

PLATFORMS = 10_000
USERS = 2_000
CATEGORIES = ("software-dev", "design", "data", "devops", "writing", "marketing", "sales", "support")
BOARD_PAGES = 3
ITEMS = 10  # per response (page)
WORDS = ("python", "django", "react", "aws", "rust", "golang", "design", "writer", "data", "sql")
BATCH = 10  # records per collector invocation
COLLECTORS = 2  # collector instances (processes: one per core, sharing only the database)
INVOCATIONS_AT_ONCE = 2  # handler invocations running side by side in each collector
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:bench-collect"


def jobs(prefix: str) -> list[dict[str, Any]]:
    """``ITEMS`` jobs whose titles mix two words of the pool, so keyword filters keep a subset."""
    rng = random.Random(prefix)
    return [
        {
            "id": f"{prefix}-{i}",
            "slug": f"{prefix}-{i}",
            "url": f"https://jobs.example.org/{prefix}/{i}",
            "title": f"{' '.join(rng.sample(WORDS, 2)).title()} contractor {i}",
            "company_name": "Initech",
            "category": prefix,
            "tags": rng.sample(WORDS, 3),
            "publication_date": "2026-11-20T09:30:00",
            "created_at": 1_795_000_000,
            "salary": "$60-$90 /hour",
            "description": f"Remote contract {i} for {prefix}.",
        }
        for i in range(ITEMS)
    ]


def write_payloads(directory: Path, base_url: str) -> None:
    """8 remotive-shaped answers and a 3-page arbeitnow board under ``directory``."""
    (directory / "remotive").mkdir()
    (directory / "remotive" / "remote-jobs").write_text(json.dumps({"jobs": jobs("remotive")}))
    (directory / "board").mkdir()
    for page in range(1, BOARD_PAGES + 1):
        following = f"{base_url}/board/{page + 1}.json" if page < BOARD_PAGES else None
        body = {"data": jobs(f"board-{page}"), "links": {"next": following}, "meta": {"current_page": page}}
        (directory / "board" / f"{page}.json").write_text(json.dumps(body))


class _CountingFiles(SimpleHTTPRequestHandler):
    """Serves the payload files (query strings ignored) and counts them; /count says how many."""

    served = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        if self.path == "/count":
            body = str(type(self).served).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        with self.lock:
            type(self).served += 1
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        return


def serve(directory: str) -> None:
    handler = lambda *a, **kw: _CountingFiles(*a, directory=directory, **kw)  # noqa: E731
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        print(server.server_address[1], flush=True)
        server.serve_forever()


def start_server(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(directory)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, f"http://127.0.0.1:{process.stdout.readline().strip()}"


def served(base_url: str) -> int:
    with urllib.request.urlopen(f"{base_url}/count") as answer:
        return int(answer.read())


def requests(base_url: str) -> list[tuple[str, dict[str, Any]]]:
    """The 9 distinct requests: (source, config without filters)."""
    remotive = [("remotive", {"url": f"{base_url}/remotive/remote-jobs", "category": c}) for c in CATEGORIES]
    return [*remotive, ("arbeitnow", {"url": f"{base_url}/board/1.json", "max_pages": BOARD_PAGES})]


def seed(engine: Engine, base_url: str, count: int) -> list[int]:
    """``count`` platforms of ``USERS`` users, spread over the distinct requests, filters varied."""
    rng = random.Random(count)
    distinct = requests(base_url)
    now = utcnow()
    rows = []
    for n in range(count):
        source, config = distinct[n % len(distinct)]
        filters = {"keywords": rng.sample(WORDS, rng.randint(1, 3))}
        if n % 4 == 0:
            filters["exclude_keywords"] = [rng.choice(WORDS)]
        rows.append(
            {
                "user_id": n % USERS,
                "name": f"platform {n}",
                "source": source,
                "config": {**config, **filters},
                "collection_interval_minutes": 60,
                "created_at": now,
                "updated_at": now,
            }
        )
    with engine.begin() as conn:
        return [int(i) for i in conn.execute(insert(platforms).returning(platforms.c.id), rows).scalars()]


def collector(env: dict[str, str], batches: list[list[int]]) -> None:
    """One collector instance (a process of its own): its share of the batches."""
    os.environ.update(env)
    runtime.reset()
    with quiet_stdout():
        invoke_all(batches)
    runtime.reset()


def collect_all(ids: list[int], env: dict[str, str]) -> float:
    """Every platform through ``COLLECTORS`` collector processes; the wall time (their start-up
    included: about a second)."""
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    started = time.perf_counter()
    with ProcessPoolExecutor(COLLECTORS, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(collector, [env] * COLLECTORS, [batches[n::COLLECTORS] for n in range(COLLECTORS)]))
    return time.perf_counter() - started


def invoke_all(batches: list[list[int]]) -> None:
    """The batches through the collector handler, ``INVOCATIONS_AT_ONCE`` at a time."""
    import collector_handler

    def invoke(batch: list[int]) -> None:
        # Scheduled, as the dispatcher sends them: a bare {"platform_id": N} is on demand, which a
        # stored response never serves.
        messages = [
            {
                "MessageId": f"m-{i}",
                "ReceiptHandle": f"r-{i}",
                "Body": json.dumps({"platform_id": i, "trigger": "schedule"}),
            }
            for i in batch
        ]
        answer = collector_handler.handler(sqs_event(messages, QUEUE_ARN), LocalLambdaContext("Bench"))
        assert answer == {"batchItemFailures": []}, answer

    with ThreadPoolExecutor(max_workers=INVOCATIONS_AT_ONCE) as pool:
        list(pool.map(invoke, batches))


def one_run(base_url: str, count: int, *, window: str) -> tuple[int, float]:
    """Seed a scratch database, collect everything; (requests served, seconds)."""
    with scratch_database("charlee_bench_shared", pool_size=8) as engine:
        ids = seed(engine, base_url, count)
        env = {
            "DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "SHARED_FETCH_WINDOW_SECONDS": window,
        }
        before = served(base_url)
        seconds = collect_all(ids, env)
        upstream = served(base_url) - before
        with engine.connect() as conn:
            outcomes = dict(conn.execute(select(runs.c.outcome, func.count()).group_by(runs.c.outcome)).all())
    assert outcomes == {"success": count}, outcomes
    return upstream, seconds


def quiet_stdout() -> Any:
    from collector_batch import quiet_stdout as quiet  # the handler's EMF and log lines

    return quiet()


def main(count: int) -> None:
    scratch = tempfile.TemporaryDirectory()
    server, base_url = start_server(Path(scratch.name))
    write_payloads(Path(scratch.name), base_url)
    os.environ.update(
        COLLECTOR_ALLOW_PRIVATE_NETWORKS="true",
        COLLECTOR_CONCURRENCY="4",
        DB_POOL_SIZE="8",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        POWERTOOLS_LOG_LEVEL="WARNING",
        AWS_DEFAULT_REGION="us-east-1",
    )
    try:
        distinct = requests(base_url)
        pages = len(CATEGORIES) + BOARD_PAGES
        upstream, seconds = one_run(base_url, count, window="900")
        assert upstream == pages, f"{upstream} upstream requests for {len(distinct)} distinct ({pages} pages)"
        unshared, unshared_seconds = one_run(base_url, count, window="0")
        report("shared_fetch_platforms", count, "platforms")
        report("shared_fetch_users", min(count, USERS), "users")
        report("shared_fetch_distinct_requests", len(distinct), "requests")
        report("shared_fetch_upstream_requests", upstream, "requests")
        report("shared_fetch_seconds", seconds, "s")
        report("shared_fetch_upstream_requests_unshared", unshared, "requests")
        report("shared_fetch_unshared_seconds", unshared_seconds, "s")
    finally:
        server.terminate()
        scratch.cleanup()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(sys.argv[2])
    else:
        main(int(sys.argv[1]) if sys.argv[1:] else PLATFORMS)
