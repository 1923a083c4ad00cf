"""`make deploy` runs sam build, then sam deploy --guided, with the project's own SAM CLI; the
.sam-venv is made in one place (scripts/sam_venv.sh) that validate.sh and deploy.sh share.

The scripts run for real in a copy of scripts/ whose .sam-venv holds a stand-in ``sam`` that
records its arguments (no AWS, no install)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"


def test_one_script_makes_the_sam_venv_and_both_entry_points_use_it() -> None:
    makers = [p.name for p in SCRIPTS.iterdir() if p.is_file() and "-m venv .sam-venv" in p.read_text()]
    assert makers == ["sam_venv.sh"]
    for script in ("validate.sh", "deploy.sh"):
        assert "source scripts/sam_venv.sh" in (SCRIPTS / script).read_text(), script
    dry_run = subprocess.run(["make", "-n", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "bash scripts/deploy.sh" in dry_run.stdout


def test_deploy_builds_then_deploys_guided_with_the_projects_sam(tmp_path: Path) -> None:
    if shutil.which("python3.12") is None and not list(Path.home().glob(".pyenv/versions/3.12*")):
        pytest.skip("python3.12 (the Lambda runtime, which sam build needs) is not on this machine")
    (tmp_path / "scripts").mkdir()
    for script in ("deploy.sh", "sam_venv.sh"):
        shutil.copy(SCRIPTS / script, tmp_path / "scripts" / script)
    sam = tmp_path / ".sam-venv" / "bin" / "sam"
    sam.parent.mkdir(parents=True)
    log = tmp_path / "sam.log"
    sam.write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    sam.chmod(0o755)

    result = subprocess.run(
        ["bash", str(tmp_path / "scripts" / "deploy.sh"), "--no-confirm-changeset"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": os.environ.get("HOME", str(tmp_path))},
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "build --template template.yaml",
        "deploy --guided --no-confirm-changeset",
    ]
    assert "installing aws-sam-cli" not in result.stderr  # an existing .sam-venv is reused
