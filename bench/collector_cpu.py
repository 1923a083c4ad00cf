"""Collector CPU for one platform: 50 items with HTML descriptions (25 for RSS), parse to stored run.

    python bench/collector_cpu.py              # from the repository root
    python bench/collector_cpu.py --profile    # also prints the cProfile top of all runs

One platform is collected at a time (``collect.collect_platform``: load, fetch over httpx from
a local server in its own process, parse, normalise, one bulk upsert into PostgreSQL, the run
recorded), each into a new platform so every run inserts 50 rows. Each platform reads its own
URL, as platforms do: the whole politeness gate runs (the shared-fetch claim, a host slot, the
response stored for others), and no run is served another's stored response. A second figure,
``collector_cpu_ms_per_platform_shared_fetch``, is the same with every platform reading one URL:
after the first, each is served the stored response (no request, no host slot).
``collector_cpu_ms_per_platform_rss`` is the first figure for an ``rss`` platform reading a
We Work Remotely-shaped feed of 25 items (~190 KB, as the real one). The figure is the median of
this process's CPU time per run (``time.process_time``), so the server's CPU and the database
server's are not counted; wall time on a loaded machine does not move it either. The platforms'
user has a scoring profile (``PROFILE``), so every item is scored and checked for duplicates as
a real user's would be.
"""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _db import report, scratch_database
from collector_batch import ITEMS, payload, quiet_stdout, seed, serve_files

from charlee_collector.app import runtime
from charlee_collector.app.collect import collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.core.clock import utcnow
from charlee_collector.store.profiles import save_profile_document

RSS_ITEMS = 25
RUNS = 21
WARMUP_RUNS = 3  # the first runs build the engine's pool, the HTTP client and the parsers
PROFILE = {
    "skills": {"python": 5, "django": 3, "aws": 3, "react": 2, "typescript": 2, "go": 2, "kotlin": 1},
    "min_budget": ["60/hour", "90000/year"],
    "contract_types": ["hourly"],
    "exclude_keywords": ["crypto"],
}


def wwr_feed(platform: int) -> bytes:
    """A We Work Remotely-shaped RSS feed: 25 items of ~7.5 KB escaped HTML, its own elements."""
    paragraph = (
        "&lt;p&gt;We are seeking experienced &lt;strong&gt;Software Engineers&lt;/strong&gt; for "
        "projects in Python, Go and Ruby.&lt;br&gt;An open-ended contract.&lt;/p&gt;\n"
    )
    items = "".join(
        f"<item><title>Company {platform}-{i}: Senior Software Engineer</title>"
        "<region>Anywhere in the World</region><country>United States</country>"
        "<skills>Python, Go, PostgreSQL</skills><category>Full-Stack Programming</category>"
        f"<type>Contract</type><description>{paragraph * 45}</description>"
        "<pubDate>Tue, 21 Oct 2025 19:36:26 +0000</pubDate>"
        f"<guid>https://weworkremotely.com/remote-jobs/job-{platform}-{i}</guid>"
        f"<link>https://weworkremotely.com/remote-jobs/job-{platform}-{i}</link></item>"
        for i in range(RSS_ITEMS)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>WWR</title>'
        f"{items}</channel></rss>"
    ).encode()


def run_cpu_ms(
    rt: runtime.Runtime, platform_id: int, profiler: cProfile.Profile | None, items: int = ITEMS
) -> float:
    """This process's CPU milliseconds for one collection of ``platform_id``."""
    # What the dispatcher sends on its schedule: a bare {"platform_id": N} is on demand, which is
    # never served a stored response (the shared figure would measure a forced fetch instead).
    message = CollectMessage(platform_id=platform_id, trigger="schedule")
    if profiler is not None:
        profiler.enable()
    started = time.process_time()
    result = collect_platform(rt.engine, rt.http, message, rt.settings)
    elapsed = time.process_time() - started
    if profiler is not None:
        profiler.disable()
    assert result.inserted == items, result
    return elapsed * 1000


def main(profile: bool) -> None:
    scratch = tempfile.TemporaryDirectory()
    directory = Path(scratch.name)
    (directory / "cpu").mkdir()
    (directory / "shared").mkdir()
    for n in range(WARMUP_RUNS + RUNS):
        (directory / "cpu" / f"{n}.json").write_bytes(payload(n))
    (directory / "shared" / "0.json").write_bytes(payload(0))
    (directory / "rss").mkdir()
    for n in range(WARMUP_RUNS + RUNS):
        (directory / "rss" / f"{n}.xml").write_bytes(wwr_feed(n))
    server, base_url = serve_files(directory, latency_s=0.0)
    os.environ.update(
        COLLECTOR_ALLOW_PRIVATE_NETWORKS="true",
        POWERTOOLS_TRACE_DISABLED="true",
        POWERTOOLS_METRICS_NAMESPACE="Bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    # CPU time, as the figure: waiting on a socket costs nothing here.
    profiler = cProfile.Profile(time.process_time) if profile else None
    try:
        with scratch_database("charlee_bench_cpu", pool_size=2) as engine:
            os.environ["DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
            runtime.reset()
            rt = runtime.get_runtime()
            with engine.begin() as conn:
                save_profile_document(conn, 1, PROFILE, now=utcnow())
            ids = seed(engine, base_url, "cpu", WARMUP_RUNS + RUNS)
            shared_ids = seed(engine, base_url, "shared", WARMUP_RUNS + RUNS, same_file=True)
            with quiet_stdout():
                for platform_id in ids[:WARMUP_RUNS]:
                    run_cpu_ms(rt, platform_id, None)
                cpu_ms = [run_cpu_ms(rt, platform_id, profiler) for platform_id in ids[WARMUP_RUNS:]]
                for platform_id in shared_ids[:WARMUP_RUNS]:
                    run_cpu_ms(rt, platform_id, None)
                shared_ms = [run_cpu_ms(rt, platform_id, None) for platform_id in shared_ids[WARMUP_RUNS:]]
                rss_ids = seed(engine, base_url, "rss", WARMUP_RUNS + RUNS, source="rss", suffix=".xml")
                for platform_id in rss_ids[:WARMUP_RUNS]:
                    run_cpu_ms(rt, platform_id, None, RSS_ITEMS)
                rss_ms = [
                    run_cpu_ms(rt, platform_id, None, RSS_ITEMS) for platform_id in rss_ids[WARMUP_RUNS:]
                ]
            report("collector_cpu_ms_per_platform", statistics.median(cpu_ms), "ms")
            report("collector_cpu_ms_per_platform_rss", statistics.median(rss_ms), "ms")
            report("collector_cpu_ms_per_platform_shared_fetch", statistics.median(shared_ms), "ms")
            runtime.reset()
    finally:
        server.terminate()
        scratch.cleanup()
    if profiler is not None:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(60)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main(profile="--profile" in sys.argv[1:])
