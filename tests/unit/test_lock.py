"""The layer's dependencies are locked with hashes, installed with --require-hashes, and the lock is
checked against its input (scripts/check_lock.py, a step of `make validate`)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def check_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "scripts" / "check_lock.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_lock"] = module
    spec.loader.exec_module(module)
    return module


def test_the_lock_in_the_repository_is_current(check_lock: ModuleType) -> None:
    assert check_lock.problems(check_lock.read_input(), check_lock.read_lock()) == []


def test_a_requirement_added_to_the_input_makes_the_lock_stale(
    check_lock: ModuleType, tmp_path: Path
) -> None:
    given = tmp_path / "requirements.in"
    given.write_text(check_lock.INPUT.read_text() + "tomli-w>=1.0\n")
    assert check_lock.problems(check_lock.read_input(given), check_lock.read_lock()) == [
        "tomli-w>=1.0 is not in the lock"
    ]


def test_a_range_the_pin_leaves_makes_the_lock_stale(check_lock: ModuleType, tmp_path: Path) -> None:
    pinned = check_lock.read_lock()["httpx"].version
    given = tmp_path / "requirements.in"
    given.write_text(re.sub(r"(?m)^httpx.*$", f"httpx>{pinned},<2", check_lock.INPUT.read_text()))
    assert check_lock.problems(check_lock.read_input(given), check_lock.read_lock()) == [
        f"httpx<2,>{pinned} is locked at {pinned}, outside its range"
    ]


def test_a_requirement_dropped_from_the_input_and_a_pin_without_hash_are_found(
    check_lock: ModuleType, tmp_path: Path
) -> None:
    given = tmp_path / "requirements.in"
    given.write_text(re.sub(r"(?m)^feedparser.*$", "", check_lock.INPUT.read_text()))
    lock = tmp_path / "requirements.txt"
    lock.write_text(
        re.sub(r"(?m)^(jmespath==\S+) \\\n(\s+--hash=\S+( \\)?\n)+", r"\1\n", check_lock.LOCK.read_text())
    )
    found = check_lock.problems(check_lock.read_input(given), check_lock.read_lock(lock))
    assert "feedparser is locked as a requirement of the input, which no longer names it" in found
    assert any(problem.startswith("jmespath==") and problem.endswith("has no hash") for problem in found)


def test_the_layer_installs_the_lock_with_hashes_required() -> None:
    makefile = (ROOT / "shared" / "Makefile").read_text()
    (install,) = [line for line in makefile.splitlines() if "pip install" in line]
    assert "--require-hashes -r requirements.txt" in install
    # The functions ship their handler modules only: everything they import comes from the layer.
    assert not list((ROOT / "functions").glob("*/requirements*.txt"))


def test_make_lock_compiles_the_input_with_hashes() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    assert "pip-compile" in recipe and "--generate-hashes" in recipe
    assert "--output-file shared/requirements.txt shared/requirements.in" in recipe
    assert "scripts/check_lock.py --audit" in (ROOT / "scripts" / "validate.sh").read_text()
