"""docs/offline-tour.md, run as it is written: its bash block, with ``charlee-collector`` on PATH,
in the repository's root, on a free port; its embedded PostgreSQL is stopped whatever happens."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

from charlee_collector_tools.local import embedded_server
from tests.support.cli import Cli

ROOT = Path(__file__).resolve().parents[2]
TOUR = ROOT / "docs" / "offline-tour.md"


def tour_script() -> str:
    """The page's one bash block."""
    [block] = re.findall(r"^```bash\n(.*?)^```", TOUR.read_text(encoding="utf-8"), flags=re.S | re.M)
    return block


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_offline_tour_runs_as_written(tmp_path: Path) -> None:
    shims = tmp_path / "bin"
    shims.mkdir()
    command = shims / "charlee-collector"  # what `source .venv/bin/activate` puts on PATH
    command.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m charlee_collector "$@"\n')
    command.chmod(0o755)
    # The tour's `mktemp -d` lands here, outside pytest's folders (a server's data must not be
    # pruned by a run beside this one while it runs).
    scratch = Path(tempfile.mkdtemp(prefix="charlee-tour-"))
    env = Cli(tmp_path).base_env()
    env.pop("CHARLEE_HOME")  # the tour chooses its own
    env.update(
        PATH=f"{shims}:{Path(sys.executable).parent}:/usr/bin:/bin",
        PORT=str(free_port()),
        TMPDIR=str(scratch),
        COLUMNS="250",
    )
    try:
        tour = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", tour_script()],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        for pgdata in scratch.glob("*/pgdata"):  # stopped by the tour's last commands, unless it failed first
            embedded_server.stop(pgdata)
        shutil.rmtree(scratch, ignore_errors=True)

    assert tour.returncode == 0, f"--- stdout\n{tour.stdout}\n--- stderr\n{tour.stderr}"
    out = tour.stdout
    assert "Senior Elixir Engineer" in out  # shown by --check, then collected
    assert "Local run: 2 platform(s) dispatched, 5 new opportunities" in out
    for title in ("Frontend Developer", "Django Freelancer", "Brand Designer", "Technical Writer"):
        assert title in out
    assert "│ WWR (captured) │ not_modified │" in out  # collected again: the file is unchanged
    assert "2 platform(s); 0 due now, 0 failing, 0 paused, 0 silent" in out
    assert "Traceback" not in tour.stderr and "error" not in tour.stderr.lower()
    assert "stopped the embedded PostgreSQL" in tour.stderr
