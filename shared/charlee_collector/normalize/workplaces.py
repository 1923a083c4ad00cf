"""Where a job is done: remote, hybrid or on-site, and its locations, in one line.

Job boards say it in their own words (Lever ``workplaceType: "onsite"``, Ashby ``"OnSite"``,
Recruitee ``remote``/``hybrid``/``on_site`` flags, Workable ``telecommuting``, a Greenhouse
location named "Remote - India"). The opportunity has no column for either, so ``place`` writes
both into ``client_country`` ("Hybrid: Bengaluru, India; Mumbai"), the column feeds already
fill with a job's country or region (We Work Remotely's ``country``); the served values stay
in ``raw``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from charlee_collector.normalize.text import one_line

Workplace = Literal["remote", "hybrid", "onsite"]

_WORDS: dict[str, Workplace] = {
    "remote": "remote",
    "fully remote": "remote",
    "telecommute": "remote",
    "hybrid": "hybrid",
    "onsite": "onsite",
    "on site": "onsite",
    "in office": "onsite",
    "office": "onsite",
}
_SEPARATORS = re.compile(r"[\s_-]+")
# In a free-text location, only these two words are telling; "office" names are not.
_IN_TEXT = re.compile(r"\b(remote|hybrid)\b", re.IGNORECASE)
_LABELS = {"remote": "Remote", "hybrid": "Hybrid", "onsite": "On-site"}


def workplace(value: Any) -> Workplace | None:
    """The workplace a board's own field names ("onsite", "OnSite", "on_site", "Remote", "HYBRID");
    ``None`` for anything else ("unspecified", missing)."""
    word = one_line(value) if isinstance(value, str) else None
    if word is None:
        return None
    # "OnSite" -> "on site": camel case is how Ashby spells its enum.
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", word)
    return _WORDS.get(_SEPARATORS.sub(" ", spaced).strip().casefold())


def workplace_of_flags(*, remote: Any = None, hybrid: Any = None, onsite: Any = None) -> Workplace | None:
    """The workplace a board's booleans say; hybrid first (Recruitee sets ``remote`` on hybrid jobs
    too), on-site only when it says so, ``None`` when no flag is ``true``."""
    if hybrid is True:
        return "hybrid"
    if remote is True:
        return "remote"
    return "onsite" if onsite is True else None


def workplace_in_text(value: Any) -> Workplace | None:
    """The workplace a free-text location states ("Remote - India", "Hybrid (Berlin)"), else ``None``."""
    line = one_line(value) if isinstance(value, str) else None
    match = _IN_TEXT.search(line) if line else None
    return workplace(match.group(1)) if match else None


def place(where: Workplace | None, locations: Iterable[Any]) -> str | None:
    """One line for ``client_country``: the workplace, then the distinct locations in order
    ("Remote", "Hybrid: Utrecht; Amsterdam", "Bengaluru"; a first location that starts with the
    workplace's name is not prefixed again); ``None`` when neither is known."""
    names = list(
        dict.fromkeys(
            name for name in (one_line(value) for value in locations if isinstance(value, str)) if name
        )
    )
    label = _LABELS[where] if where else None
    joined = "; ".join(names) if names else None
    # "Remote, USA Only" says it already: no "Remote: Remote, USA Only".
    if label and joined and not joined.casefold().startswith(label.casefold()):
        return f"{label}: {joined}"
    return joined or label
