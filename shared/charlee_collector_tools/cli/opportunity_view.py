"""How ``opportunities`` shows its rows on stdout: a table when every URL fits on one line.

A URL is the one cell a person copies, and one folded over several lines cannot be clicked or
copied whole. The table is printed when each URL fits beside the other columns at their
narrowest (``NARROWEST``); on a narrower terminal each opportunity is two lines instead: its
cells, cut to the width, then its URL whole on a line of its own. Off a terminal the width is
unbounded (cli/common.py), so pipes and files always get the table with whole cells.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.text import Text

from charlee_collector.core.opportunity import format_budget
from charlee_collector_tools.cli.common import clip, table, when

COLUMNS = ["ID", "Platform", "Title", "Client", "Posted", "Budget", "Status", "Score", "Also on", "URL"]
# The width under which a column is no longer worth reading: below it the two-line layout is used.
NARROWEST = {
    "Platform": 10, "Title": 20, "Client": 8, "Posted": 10, "Budget": 8, "Status": 7, "Also on": 8,
}  # fmt: skip
URL_INDENT = "    "


def _cells(row: dict[str, Any]) -> list[str]:
    return [
        str(row["id"]),
        row["platform_name"],
        clip(row["title"], 70),
        clip(row["client_name"], 30),
        when(row["posted_at"]),
        format_budget(row["client_budget"], row["client_currency"], row["budget_period"]),
        row["status"],
        "-" if row.get("score") is None else str(row["score"]),
        clip(", ".join(row.get("also_on") or []), 40),
        row["url"] or "",
    ]


def _fits(cells: Sequence[list[str]], width: int) -> bool:
    """Whether the table fits ``width`` with every URL whole and the rest no narrower than ``NARROWEST``."""
    needed = 1  # the left border; each column adds its padding (2) and a border (1)
    for n, column in enumerate(COLUMNS):
        widest = max([len(column), *(len(row[n]) for row in cells)])
        needed += min(widest, max(NARROWEST.get(column, widest), len(column))) + 3
    return needed <= width


def print_opportunities(console: Console, rows: Sequence[dict[str, Any]]) -> None:
    """The rows as a table, or two lines each when the table would fold a URL."""
    cells = [_cells(row) for row in rows]
    if _fits(cells, console.width):
        shown = table(None, COLUMNS, cells)
        url = shown.columns[-1]
        url.no_wrap, url.min_width = True, max(len(row[-1]) for row in cells)
        console.print(shown)
        return
    for row in cells:
        head = Text(f"{row[0]:>6}  {' · '.join(c for c in row[1:-1] if c and c != '-')}")
        head.truncate(console.width, overflow="ellipsis")
        console.print(head, no_wrap=True, overflow="ellipsis")
        # One line whatever its length: the terminal may wrap it on screen, but it stays whole.
        console.print(Text(URL_INDENT + row[-1]), soft_wrap=True)
