"""Text fields: one line, cut to a column's width, mojibake repaired, skills as a clean list."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from charlee_collector.core.text import clean_text

MAX_SKILLS = 50


_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]{1,3}")


def one_line(value: Any) -> str | None:
    """Clean text with every run of whitespace (newlines included) collapsed to one space."""
    if type(value) is str and value.isascii() and "\x00" not in value:  # nothing else to clean
        return " ".join(value.split()) or None
    text = clean_text(value)
    return " ".join(text.split()) if text else None


def first_line(text: str | None) -> str | None:
    """The first non-empty line of a text."""
    return next((line.strip() for line in (text or "").split("\n") if line.strip()), None)


def repair_mojibake(text: str | None) -> str | None:
    """Undo UTF-8 that was decoded as Latin-1 once ("WeÃ¢Â€Â™re" style) where it can be undone.

    Some APIs (Remote OK) serve such double-encoded text; a run is only replaced when its
    Latin-1 bytes are valid UTF-8, so correct text passes through unchanged.
    """
    if not text or not _MOJIBAKE.search(text):
        return text

    def _fix(match: re.Match[str]) -> str:
        try:
            return match.group(0).encode("latin-1").decode("utf-8")
        except UnicodeError:
            return match.group(0)

    return _MOJIBAKE.sub(_fix, text)


def cut(value: str | None, limit: int) -> str | None:
    """The value cut to ``limit`` characters (a column width): long values are kept, not refused."""
    if value is None or len(value) <= limit:
        return value
    return value[:limit].rstrip() or value[:limit]


def clean_skills(values: Any) -> list[str]:
    """Skills as a list of distinct one-line strings (first spelling wins), at most ``MAX_SKILLS``."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Iterable) or isinstance(values, Mapping | bytes):
        return []
    skills: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        skill = one_line(value)
        folded = skill.casefold() if skill else ""
        if skill and folded not in seen:
            seen.add(folded)
            skills.append(skill[:100])
        if len(skills) >= MAX_SKILLS:
            break
    return skills
