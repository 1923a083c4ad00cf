"""Local run: N small generated RSS feeds on a local server, collected by one ``local run`` tick.

The feeds (a few items each, made up here) are served by a ``ThreadingHTTPServer`` in a process
of its own, so its CPU is not the collector's. The platforms go straight into the command's
default database, the embedded PostgreSQL, in a CHARLEE_HOME of the bench's own (its server
started before the clock starts, as any command after the first finds it); then
``charlee-collector local run`` runs as a subprocess, as a person would run it, with no
DATABASE_URL, and the wall time of the whole command (start-up included) gives the figure. A platform counts as
collected when this tick recorded a successful run for it.

    .venv/bin/python bench/local_run.py            # 2,500 feeds
    .venv/bin/python bench/local_run.py 5000
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _db import ROOT, report
from sqlalchemy import Engine, func, insert, select

from charlee_collector.core.clock import utcnow
from charlee_collector.store import migrate
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.local import embedded_server

FEEDS = 2_500
ITEMS_PER_FEED = 3


def feed(n: int) -> bytes:
    """Feed ``n``: a few items whose guids are unique across feeds."""
    items = "".join(
        f"<item><title>Feed {n} job {i}: Python developer</title>"
        f"<link>https://jobs.example.org/{n}/{i}</link><guid>https://jobs.example.org/{n}/{i}</guid>"
        f"<description>Job {i} of feed {n}: remote, part time.</description>"
        f"<pubDate>Mon, 01 Jun 2026 10:0{i}:00 +0000</pubDate></item>"
        for i in range(ITEMS_PER_FEED)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {n}</title>{items}</channel></rss>'
    ).encode()


class FeedHandler(BaseHTTPRequestHandler):
    """``/feeds/<n>.xml`` -> feed n; anything else 404."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        name = self.path.removeprefix("/feeds/").removesuffix(".xml")
        if not name.isdigit():
            self.send_error(404)
            return
        body = feed(int(name))
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass  # an access log line per feed would drown the figures


def serve() -> None:
    """The feed server (run with ``--serve``): prints its port, then serves until killed."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FeedHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    server.serve_forever()


def seed(engine: Engine, base_url: str, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "user_id": 1,
            "name": f"feed {n}",
            "source": "rss",
            "config": {"url": f"{base_url}/feeds/{n}.xml"},
            "active": True,
            "auto_collect": True,
            "collection_interval_minutes": 60,
            "created_at": now,
            "updated_at": now,
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        for start in range(0, count, 1_000):
            conn.execute(insert(platforms), rows[start : start + 1_000])


def collected(engine: Engine) -> int:
    """Platforms with a successful run."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.count(func.distinct(runs.c.platform_id))).where(runs.c.outcome == "success")
            ).scalar_one()
        )


def main(count: int) -> int:
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        with tempfile.TemporaryDirectory(prefix="charlee-bench-") as tmp:
            home = Path(tmp)
            engine = create_db_engine(embedded_server.database_url(home))
            migrate.upgrade(engine)
            seed(engine, f"http://127.0.0.1:{port}", count)
            env = {
                **{
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "COLLECT", "DATABASE_URL", "DB_SECRET_ARN"))
                },
                "CHARLEE_HOME": tmp,
                "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true",
                "PYTHONPATH": str(ROOT / "shared"),
            }
            started = time.perf_counter()
            command = subprocess.run(
                [sys.executable, "-m", "charlee_collector", "local", "run", "--no-seed", "--json"],
                env=env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                check=False,
            )
            seconds = time.perf_counter() - started
            done = collected(engine)
            engine.dispose()
            embedded_server.stop(embedded_server.data_dir(home))
    finally:
        server.kill()
        server.wait()
    if command.returncode:
        print(f"# local run exited {command.returncode}: {command.stderr.strip()[-2000:]}", flush=True)
    report("local_run_feeds", count, "feeds")
    report("local_run_seconds", seconds, "s")
    report("local_run_feeds_per_s", count / seconds, "feeds/s")
    report("local_run_uncollected", count - done, "platforms")
    return 0 if command.returncode == 0 and done == count else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve()
    else:
        sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else FEEDS))
