"""Instructions per collection, this code beside a base commit's, counted by valgrind's callgrind.

    python bench/collector_instructions.py                # base: the main before issue 29
    python bench/collector_instructions.py --base REV --runs 4

CPU milliseconds on this shared 2-core machine move by up to 2x from one run to the next, more
than the 2 ms issue 29 allows scoring and duplicate detection to add. Instructions do not move:
the same collection counts the same instructions (within 0.1 %) whatever else the machine runs.
Each tree's own ``bench/collector_cpu.py`` collections (the same platforms, payloads and local
server) run under callgrind with its instrumentation on only during the measured collections
(``callgrind_control -i on|off``, warm-up runs left out), the base tree checked out beside this
one (``git worktree``, removed after). Printed per collection: the instructions of each tree
(``collector_instructions_..._base`` / ``..._head``, millions), their ratio, and the CPU
milliseconds the difference is worth at this machine's speed in this run (the head's
``collector_cpu_ms_per_platform`` measured here, uninstrumented, times the share of its
instructions the base did not run). Instructions leave out the kernel's part of each database
round trip (~0.05 ms each here). Needs valgrind (``callgrind_control``); without it the bench
says NOT RUN.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Main just before issue 29 (profiles, scores, duplicate links) was merged: issues 25-28 in, 29 not.
BASE = "cec06e3"
RUNS = 4
# ``callgrind_control`` itself runs outside valgrind; the parent's own instructions around each
# on/off pair (measured with nothing between them) are taken off each collection's count.
_COLLECTED = re.compile(r"Collected : (\d+)")


def _harness(phase: str, runs: int) -> None:
    """Inside valgrind, in a tree's bench folder: its collector_cpu runs, instrumented only while
    a measured collection of ``phase`` (json, rss, or idle: an on/off pair with nothing between)."""
    sys.path.insert(0, os.getcwd())
    import collector_cpu  # the tree's own bench

    collector_cpu.RUNS = runs
    per_phase = collector_cpu.RUNS + collector_cpu.WARMUP_RUNS
    measure = collector_cpu.run_cpu_ms
    calls = [0]

    def toggle(on: bool) -> None:
        command = ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)

    def run(*args: object, **kwargs: object) -> float:
        n = calls[0]
        calls[0] += 1
        # collector_cpu collects json platforms, then shared-fetch ones, then rss ones.
        kind = ("json", "shared", "rss")[min(n // per_phase, 2)]
        measured = n % per_phase >= collector_cpu.WARMUP_RUNS and kind == (
            "json" if phase == "idle" else phase
        )
        if measured and phase == "idle":
            toggle(True)
            toggle(False)
            measured = False
        if not measured:
            return measure(*args, **kwargs)  # type: ignore[arg-type]
        toggle(True)
        try:
            return measure(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            toggle(False)

    collector_cpu.run_cpu_ms = run
    collector_cpu.main(False)


def _instructions(tree: Path, phase: str, runs: int) -> int:
    with tempfile.TemporaryDirectory() as scratch:
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={scratch}/callgrind.%p",
                sys.executable,
                str(Path(__file__).resolve()),
                "--harness",
                phase,
                str(runs),
            ],
            cwd=tree / "bench",
            env={**os.environ, "PYTHONPATH": str(tree / "shared")},
            capture_output=True,
            text=True,
            check=False,
        )
    counts = _COLLECTED.findall(completed.stderr)
    if completed.returncode != 0 or not counts:
        raise SystemExit(f"callgrind run failed in {tree} ({phase}):\n{completed.stderr[-2000:]}")
    return int(counts[-1])


def _cpu_ms(tree: Path) -> float:
    """The tree's ``collector_cpu_ms_per_platform``, measured now without valgrind."""
    output = subprocess.run(
        [sys.executable, "bench/collector_cpu.py"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree / "shared")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^collector_cpu_ms_per_platform ([\d.]+) ms", output, re.M)
    if match is None:
        raise SystemExit(f"no collector_cpu_ms_per_platform in:\n{output}")
    return float(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default=BASE)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--harness", nargs=2, metavar=("PHASE", "RUNS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.harness:
        _harness(args.harness[0], int(args.harness[1]))
        return 0
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("collector_instructions: NOT RUN, valgrind (callgrind) is not installed")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.base],
            check=True,
            capture_output=True,
        )
        try:
            idle = _instructions(ROOT, "idle", args.runs) / args.runs
            print(f"# base {args.base}, head the working tree; {args.runs} collections each", flush=True)
            for phase, label in (("json", ""), ("rss", "_rss")):
                base_count = _instructions(base, phase, args.runs) / args.runs - idle
                head_count = _instructions(ROOT, phase, args.runs) / args.runs - idle
                print(f"collector_instructions{label}_base {base_count / 1e6:.2f} M")
                print(f"collector_instructions{label}_head {head_count / 1e6:.2f} M")
                print(f"collector_instructions{label}_ratio {head_count / base_count:.3f}")
                if phase == "json":
                    head_ms = _cpu_ms(ROOT)
                    added = head_ms * (1 - base_count / head_count)
                    print(f"collector_cpu_ms_per_platform {head_ms:.1f} ms (head, this run)")
                    print(f"collector_cpu_ms_added_since_base {added:.1f} ms")
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)],
                check=False,
                capture_output=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
