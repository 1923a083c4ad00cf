"""scripts/smoke_built.py: its isolated interpreters keep Powertools' empty-metrics warning out."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def smoke() -> ModuleType:
    spec = importlib.util.spec_from_file_location("smoke_built", ROOT / "scripts" / "smoke_built.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_child_drops_only_the_empty_metrics_warning() -> None:
    module = smoke()
    assert module.CHILD.startswith(module.QUIET_WARNINGS)
    code = module.QUIET_WARNINGS + (
        "import warnings\n"
        "warnings.warn('No application metrics to publish. The cold-start metric may be published "
        "if enabled.', stacklevel=1)\n"
        "warnings.warn('a real problem', stacklevel=1)\n"
    )
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "No application metrics" not in ran.stderr
    assert "UserWarning: a real problem" in ran.stderr
