"""What an alert says, whatever the channel: a heading and its jobs, best first, cut to fit.

Each channel renders a line per job in its own escaping (``channels/``); ``render`` keeps the
jobs that fit in the channel's limit (at most ``MAX_ITEMS``) and ends with a line naming how many
were left out, linking to the rest (the rule's ``more_url``) when there is one. Titles from
providers are bounded to ``MAX_TITLE_CHARS`` before any escaping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from charlee_collector.normalize.chat_text import bounded

MAX_ITEMS = 20
MAX_TITLE_CHARS = 200
MAX_NOTE_CHARS = 300


@dataclass(frozen=True)
class AlertItem:
    """One job in an alert, as the person reads it."""

    title: str
    url: str | None
    source: str
    score: int | None = None
    budget: str | None = None  # as a listing writes it: "90 USD/h"

    @property
    def label(self) -> str:
        """The title, bounded, with the score in front when there is one."""
        title = bounded(" ".join(self.title.split()), MAX_TITLE_CHARS)
        return f"[{self.score}] {title}" if self.score is not None else title

    @property
    def details(self) -> str:
        """What follows the title: the source and the budget."""
        return " · ".join(part for part in (self.source, self.budget) if part)


@dataclass(frozen=True)
class AlertMessage:
    """An alert: its heading, its jobs (best first) and where the rest are listed."""

    heading: str
    items: Sequence[AlertItem]
    more_url: str | None = None
    # Lines after the heading (a digest's insights); skill names in them come from providers.
    notes: Sequence[str] = ()


def render(
    message: AlertMessage,
    *,
    heading: Callable[[str], str],
    item_line: Callable[[AlertItem], str],
    more_line: Callable[[int, str | None], str],
    limit: int,
    separator: str = "\n",
    note: Callable[[str], str] = str,
) -> str:
    """``message`` as one text of at most ``limit`` characters: the heading, its notes
    (``note`` escapes each), each job's line while they fit (at most ``MAX_ITEMS``), then
    ``more_line(left_out, more_url)`` when any were cut."""
    parts = [heading(message.heading), *(note(bounded(n, MAX_NOTE_CHARS)) for n in message.notes)]
    used = sum(len(part) for part in parts) + len(separator) * (len(parts) - 1)
    for position, item in enumerate(message.items):
        left = len(message.items) - position
        line = item_line(item)
        tail = more_line(left - 1, message.more_url) if left > 1 else ""
        fits = used + len(separator) + len(line) + (len(separator) + len(tail) if tail else 0) <= limit
        if position >= MAX_ITEMS or not fits:
            parts.append(more_line(left, message.more_url))
            break
        parts.append(line)
        used += len(separator) + len(line)
    return separator.join(parts)


def more_text(left_out: int, more_url: str | None) -> str:
    """The plain words of the cut line."""
    jobs = f"{left_out} more job{'s' if left_out != 1 else ''}"
    return f"…and {jobs}: {more_url}" if more_url else f"…and {jobs} (charlee-collector opportunities)"
