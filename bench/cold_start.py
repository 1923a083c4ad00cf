"""Cold start: import time of each handler in a fresh interpreter, and the size of the built layer.

The figure is the wall-clock time of `import <handler>` in a fresh interpreter, median of 5, with
tracing on as deployed and off; `python -X importtime` then names the packages that cost the
most. With the layer built (`make validate`), only the built function, the layer and the
runtime's boto3 are on the path, as in Lambda; otherwise the development venv is measured. The
layer size is that of the built layer, or of its requirements installed into a scratch folder.
"""

from __future__ import annotations

import os
import re
import shutil
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
    return [
        str(ROOT / folder),
        str(ROOT / "shared"),
    ], "the development venv (run make validate to measure the layer)"


def _run(
    folder: str, code: str, *, tracing: bool, importtime: bool = False
) -> subprocess.CompletedProcess[str]:
    paths, _ = search_path(folder)
    env = {
        **os.environ,
        "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
        "AWS_LAMBDA_FUNCTION_NAME": "bench",  # Powertools enables the tracer only inside Lambda
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    # -S keeps the venv's site-packages out when the built layer is measured, as in Lambda.
    isolate = ["-S"] if paths[0].startswith(str(BUILD)) else []
    flags = ["-X", "importtime"] if importtime else []
    return subprocess.run(
        [sys.executable, *isolate, *flags, "-c", f"import sys; sys.path[:0] = {paths!r}\n{code}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def import_ms(folder: str, module: str, *, tracing: bool) -> float:
    """Wall-clock time of `import module` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print((time.perf_counter() - t) * 1000)"
    return float(_run(folder, code, tracing=tracing).stdout.strip().splitlines()[-1])


def heaviest_imports(folder: str, module: str) -> list[tuple[int, str]]:
    """The packages that cost the most, from -X importtime (cumulative microseconds)."""
    stderr = _run(folder, f"import {module}", tracing=True, importtime=True).stderr
    totals: dict[str, int] = {}
    for line in stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            package = match[3].split(".")[0]
            if package not in (module, "charlee_collector"):
                totals[package] = max(totals.get(package, 0), int(match[1]))
    return sorted(((us, name) for name, us in totals.items()), reverse=True)[:TOP_IMPORTS]


def layer_size_bytes() -> tuple[int, str]:
    built = ROOT / ".aws-sam" / "build" / "SharedLayer"
    if built.exists():
        return _size(built), "built layer"
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "-q",
                "--target",
                scratch,
                "-r",
                str(ROOT / "shared/requirements.txt"),
            ],
            check=True,
        )
        return _size(Path(scratch)) + _size(
            ROOT / "shared" / "charlee_collector"
        ), "requirements installed to scratch"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    print(
        f"# imports measured with {search_path('functions/collector')[1]}, median of {RUNS} fresh interpreters"
    )
    for folder, module in HANDLERS.values():
        import_ms(folder, module, tracing=True)  # warm the page cache: Lambda reads from its own disk
    for name, (folder, module) in HANDLERS.items():
        traced = statistics.median(import_ms(folder, module, tracing=True) for _ in range(RUNS))
        untraced = statistics.median(import_ms(folder, module, tracing=False) for _ in range(RUNS))
        print(f"cold_start_import_{name} {traced:.0f} ms", flush=True)
        print(f"cold_start_import_{name}_tracing_off {untraced:.0f} ms", flush=True)
        for us, package in heaviest_imports(folder, module):
            print(f"# {name}: {package} {us / 1000:.0f} ms (cumulative, -X importtime inflates it)")
    size, how = layer_size_bytes()
    print(f"layer_size {size / 1024 / 1024:.1f} MB")
    print(f"# layer size measured from the {how} (bytecode included: /opt is read-only in Lambda)")
    built = BUILD / "SharedLayer"
    if built.exists():
        with tempfile.TemporaryDirectory() as scratch:
            archive = shutil.make_archive(f"{scratch}/layer", "zip", built)
            print(f"layer_zip_size {Path(archive).stat().st_size / 1024 / 1024:.1f} MB")


if __name__ == "__main__":
    main()
