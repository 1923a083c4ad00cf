"""Run every benchmark in one go (make bench); each prints `name value unit` lines."""

from __future__ import annotations

import subprocess
import sys
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
]


def main() -> int:
    failed = []
    for name in BENCHES:
        path = HERE / name
        if not path.exists():
            print(f"# {name}: not present", flush=True)
            failed.append(name)
            continue
        print(f"# {name}", flush=True)
        if subprocess.run([sys.executable, str(path)], cwd=HERE.parent, check=False).returncode:
            failed.append(name)
    if failed:
        print(f"# failed: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
