"""Cold start of the artifact: CPU time of each handler's import as Lambda would run it, and the layer's size.

The functions are the built ones (`make validate` builds them), unpacked the way Lambda gets them
(scripts/lambda_artifact.py: SAM's zip with its 1980 dates, read-only, the function's code, then
the layer, then the runtime's own boto3 on the path, ``LAMBDA_TASK_ROOT`` and the template's
variables set, so Powertools traces as deployed). The figure is the CPU time of ``import
<handler>`` in a fresh interpreter, median of 5 after one run that warms the page cache; CPU
rather than wall time, so other work on the machine moves it less. ``_tracing_off`` is the same
with POWERTOOLS_TRACE_DISABLED=true: what the X-Ray patches cost at import. ``python -X
importtime`` then names the packages that cost the most.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from lambda_artifact import (  # noqa: E402
    BUILD,
    BUILT_TEMPLATE,
    RUNTIME_PROVIDED,
    UnpackedFunction,
    unpacked,
    zip_like_sam,
)

from tests.support import cfn_yaml  # noqa: E402

FUNCTIONS = {
    "dispatcher": "DispatcherFunction",
    "collector": "CollectorFunction",
    "migrate": "MigrateFunction",
}
TRACING_OFF_TOO = ("dispatcher", "collector")
RUNS = 5
TOP_IMPORTS = 5
PYTHON = sys.executable  # the venv's interpreter is the runtime's python3.12; -S keeps its site-packages out


def _run(function: UnpackedFunction, code: str, *, tracing: bool, importtime: bool = False) -> str:
    env = function.environment()
    if not tracing:
        env["POWERTOOLS_TRACE_DISABLED"] = "true"
    flags = ["-X", "importtime"] if importtime else []
    with tempfile.TemporaryDirectory(prefix="charlee-cold-") as cwd:
        process = subprocess.run(
            [PYTHON, "-S", "-s", "-P", *flags, "-c", code],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    return process.stderr if importtime else process.stdout


def import_cpu_ms(function: UnpackedFunction, *, tracing: bool = True) -> float:
    """CPU milliseconds of importing the handler module in a fresh interpreter."""
    code = (
        "import time; started = time.process_time()\n"
        f"import {function.module}\n"
        "print((time.process_time() - started) * 1000)"
    )
    return float(_run(function, code, tracing=tracing).strip().splitlines()[-1])


def heaviest_imports(function: UnpackedFunction) -> list[tuple[int, str]]:
    """The packages that cost the most, from -X importtime (cumulative microseconds)."""
    stderr = _run(function, f"import {function.module}", tracing=True, importtime=True)
    totals: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            package = match[3].split(".")[0]
            if package not in (function.module, "charlee_collector"):
                totals[package] = max(totals.get(package, 0), int(match[1]))
    return sorted(((us, name) for name, us in totals.items()), reverse=True)[:TOP_IMPORTS]


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> int:
    if not BUILT_TEMPLATE.is_file() or not (RUNTIME_PROVIDED / "boto3").is_dir():
        print("# cold_start: no built artifact: run `make validate` (sam build) first", flush=True)
        return 2
    print(f"# the artifact as Lambda loads it (zip round trip, read-only); CPU ms, median of {RUNS}")
    with unpacked(cfn_yaml.load(BUILT_TEMPLATE)) as functions:
        for name, logical_id in FUNCTIONS.items():
            function = functions[logical_id]
            import_cpu_ms(function)  # warm the page cache: Lambda reads from its own disk
            figure = statistics.median(import_cpu_ms(function) for _ in range(RUNS))
            print(f"cold_start_artifact_{name}_cpu_ms {figure:.0f} ms", flush=True)
            if name in TRACING_OFF_TOO:
                off = statistics.median(import_cpu_ms(function, tracing=False) for _ in range(RUNS))
                print(f"cold_start_artifact_{name}_tracing_off_cpu_ms {off:.0f} ms", flush=True)
            for us, package in heaviest_imports(function):
                print(f"# {name}: {package} {us / 1000:.0f} ms (cumulative, -X importtime inflates it)")
    layer = BUILD / "SharedLayer"
    print(f"layer_size {_size(layer) / 1024 / 1024:.1f} MB")
    with tempfile.TemporaryDirectory() as scratch:
        archive = Path(scratch, "layer.zip")
        zip_like_sam(layer, archive)
        print(f"layer_zip_size {archive.stat().st_size / 1024 / 1024:.1f} MB")
    print("# layer size: the built layer, bytecode included (/opt is read-only in Lambda)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
