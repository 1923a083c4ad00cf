"""docs/sources.md lists every source the registry knows, in both of its tables (minimum interval
and what it reads), with the interval the source module keeps."""

from __future__ import annotations

import re
from pathlib import Path

from charlee_collector.sources import REGISTRY

SOURCES_MD = Path(__file__).parents[2] / "docs" / "sources.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| ([^|]+) \|")


def _table(header: str) -> dict[str, str]:
    """The first cell's source key -> the second cell, for the table under ``header``."""
    lines = SOURCES_MD.read_text(encoding="utf-8").splitlines()
    start = lines.index(header) + 2  # past the header and its |---| line
    rows: dict[str, str] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if match := ROW.match(line):
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_every_source_is_in_both_tables_with_its_interval():
    intervals = _table("| `source` | minimum interval | why | seeded platform's interval |")
    assert intervals == {key: f"{source.min_interval_minutes} min" for key, source in REGISTRY.items()}
    assert set(_table("| `source` | What it reads | Checked against |")) == set(REGISTRY)
