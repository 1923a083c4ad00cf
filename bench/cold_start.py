"""Cold start: import time of each handler in a fresh interpreter, and the size of the built layer.

Import time is read from `python -X importtime` (the cumulative time of the handler module),
median of 5 fresh interpreters. The layer is `.aws-sam/build/SharedLayer` when `make validate`
has built it; otherwise its requirements are installed into a scratch folder to measure them.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HANDLERS = {
    "dispatcher": ("functions/dispatcher", "dispatcher_handler"),
    "collector": ("functions/collector", "collector_handler"),
    "migrate": ("functions/dispatcher", "migrate_handler"),
}
RUNS = 5
TOP_IMPORTS = 5


BUILD = ROOT / ".aws-sam" / "build"
RUNTIME_PROVIDED = ROOT / ".aws-sam" / "runtime-provided"


def search_path(folder: str) -> tuple[list[str], str]:
    """What a Lambda would see: the built function, the layer and the runtime's boto3 when built."""
    layer = BUILD / "SharedLayer" / "python"
    if layer.exists():
        function = BUILD / ("CollectorFunction" if "collector" in folder else "DispatcherFunction")
        return [str(function), str(layer), str(RUNTIME_PROVIDED)], "the built layer (site-packages off)"
    return [str(ROOT / folder), str(ROOT / "shared")], "the development venv (run make validate to measure the layer)"


def import_time_us(folder: str, module: str) -> tuple[int, list[tuple[int, str]]]:
    paths, _ = search_path(folder)
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "false", "AWS_DEFAULT_REGION": "us-east-1"}
    # -S keeps the venv's site-packages out when the built layer is measured, as in Lambda.
    isolate = ["-S"] if paths[0].startswith(str(BUILD)) else []
    code = f"import sys; sys.path[:0] = {paths!r}; import {module}"
    result = subprocess.run(
        [sys.executable, *isolate, "-X", "importtime", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows = []
    for line in result.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match[2]), len(match[3]), match[4]))
    total = next(cumulative for cumulative, _, name in rows if name == module)
    # The heaviest top-level imports (depth 1) say what costs the time.
    # The heaviest imports directly under the handler and the package say what costs the time.
    top = sorted(((c, n) for c, depth, n in rows if depth in (3, 5) and "." not in n), reverse=True)[:TOP_IMPORTS]
    return total, top


def layer_size_bytes() -> tuple[int, str]:
    built = ROOT / ".aws-sam" / "build" / "SharedLayer"
    if built.exists():
        return _size(built), "built layer"
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--target", scratch, "-r", str(ROOT / "shared/requirements.txt")],
            check=True,
        )
        return _size(Path(scratch)) + _size(ROOT / "shared" / "charlee_collector"), "requirements installed to scratch"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    print(f"# imports measured with {search_path('functions/collector')[1]}; -X importtime adds its own overhead")
    for name, (folder, module) in HANDLERS.items():
        samples = [import_time_us(folder, module) for _ in range(RUNS)]
        median_ms = statistics.median(total for total, _ in samples) / 1000
        print(f"cold_start_import_{name} {median_ms:.0f} ms", flush=True)
        for cumulative, top_name in samples[0][1]:
            print(f"# {name}: {top_name} {cumulative / 1000:.0f} ms")
    size, how = layer_size_bytes()
    print(f"layer_size {size / 1024 / 1024:.1f} MB")
    print(f"# layer size measured from the {how}")


if __name__ == "__main__":
    main()
