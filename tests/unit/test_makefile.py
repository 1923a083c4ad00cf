"""The Makefile as a newcomer meets it: ``make install`` (and so the first ``make run``) says what it
is doing before pip starts, run for real in a copy of the project whose python is a recorder."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _install_inputs() -> list[str]:
    """The files the install stamp depends on, read from the Makefile's own rule."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("$(STAMP):"):
            return line.split(":", 1)[1].split()
    raise AssertionError("the Makefile has no $(STAMP) rule")


# A stand-in for python: `-m venv DIR` makes DIR/bin/python (this script again); anything else
# (pip) is only printed, so the order of what make shows can be read back.
RECORDER = """#!/bin/sh
if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi
echo "ran: python $*"
"""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "shared").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", project / "Makefile")
    for name in _install_inputs():
        (project / name).write_text("")
    recorder = tmp_path / "python"
    recorder.write_text(RECORDER)
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    return project


def test_install_says_what_it_installs_before_pip_runs(tmp_path: Path) -> None:
    project = _project(tmp_path)
    make = ["make", "--no-print-directory", "install", f"PYTHON={tmp_path / 'python'}"]

    first = subprocess.run(make, cwd=project, capture_output=True, text=True, timeout=60, check=True)

    lines = first.stdout.splitlines()
    assert lines[0].startswith("installing the project and its dependencies into .venv with pip (a minute")
    assert any(line.startswith("ran: python -m pip install") for line in lines[1:])
    again = subprocess.run(make, cwd=project, capture_output=True, text=True, timeout=60, check=True)
    assert "installing" not in again.stdout  # installed: nothing to say, nothing run
