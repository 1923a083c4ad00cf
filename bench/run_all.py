"""Run every benchmark in one go (make bench); each prints `name value unit` lines.

Before each bench the machine is let settle (``settle``): a bench that writes 100,000 rows
leaves PostgreSQL checkpointing and autovacuuming on the other core for a while, and the CPU
figures of the next bench measured ~1.6x their value on a quiet machine (25.7 against 15-17 ms
per platform). Each wait is printed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "upsert.py",
    "parse.py",
    "dispatch.py",
    "collector_cpu.py",
    "collector_batch.py",
    "cold_start.py",
    "local_run.py",
    "shared_fetch.py",
    "dedup.py",
    "alert_latency.py",
]


SETTLE_LIMIT_SECONDS = 120
QUIET_IDLE_SHARE = 0.8  # both cores this idle over one second: quiet


def _cpu_idle_share(seconds: float = 1.0) -> float:
    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total

    idle_before, total_before = sample()
    time.sleep(seconds)
    idle_after, total_after = sample()
    return (idle_after - idle_before) / max(total_after - total_before, 1)


def settle() -> None:
    """CHECKPOINT, then wait (at most SETTLE_LIMIT_SECONDS) until no autovacuum runs and the CPUs
    are idle; a machine without /proc/stat or a server it cannot reach just goes on."""
    started = time.monotonic()
    vacuums = 0
    try:
        from _db import server_url  # puts shared/ on the path
        from sqlalchemy import create_engine, text

        engine = create_engine(server_url(), isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.execute(text("CHECKPOINT"))
                while time.monotonic() - started < SETTLE_LIMIT_SECONDS:
                    vacuums = conn.execute(
                        text("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
                    ).scalar_one()
                    if not vacuums:
                        break
                    time.sleep(1)
        finally:
            engine.dispose()
        while time.monotonic() - started < SETTLE_LIMIT_SECONDS:
            if _cpu_idle_share() >= QUIET_IDLE_SHARE:
                break
    except Exception as exc:  # settling is a courtesy: never a reason not to measure
        print(f"# settle: skipped ({type(exc).__name__}: {exc})", flush=True)
        return
    print(
        f"# settled in {time.monotonic() - started:.0f} s; reference loop {_reference_cpu_ms():.0f} ms CPU",
        flush=True,
    )


def _reference_cpu_ms() -> float:
    """CPU ms of a fixed Python loop (median of three): how fast this machine runs right now.
    The same code's figures move with it (this 2-core machine's speed varies by up to 2x)."""
    times = []
    for _ in range(3):
        started = time.process_time()
        sum(i * i for i in range(1_000_000))
        times.append((time.process_time() - started) * 1000)
    return sorted(times)[1]


def main() -> int:
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            print(f"# {name}: not present", flush=True)
            failed.append(name)
            continue
        settle()
        print(f"# {name}", flush=True)
        if subprocess.run([sys.executable, str(path)], cwd=HERE.parent, check=False).returncode:
            failed.append(name)
    if failed:
        print(f"# failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
