"""Text as the database and JSON can hold it: no NUL, no lone surrogate, no empty string."""

from __future__ import annotations

import re
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(value: Any) -> str | None:
    """The value as storable text: no NUL bytes, no lone surrogates, ``None`` when empty."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii() and not encodes_as_utf8(text):
        text = _LONE_SURROGATE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def encodes_as_utf8(text: str) -> bool:
    """False when ``text`` holds a lone surrogate (the only thing that stops UTF-8)."""
    # Encoding runs ~4x faster than a regex search.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
