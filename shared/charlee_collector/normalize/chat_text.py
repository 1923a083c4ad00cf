"""Text from providers made inert for the chat it lands in, and bounded: one module for every
channel's escaping (the per-run summary webhook, ``app/webhook_text.py``, and the alerts,
``alerts/channels/``).

Slack: ``&``, ``<`` and ``>`` are markup (``<!channel>`` pings everyone, ``<https://x|y>`` hides a
link behind other words), escaped as Slack documents. Discord: mentions are switched off by the
body's ``allowed_mentions`` (``NO_MENTIONS``), not by editing the text; its markdown (``*``, ``_``,
``[x](y)``: a masked link) is escaped with backslashes. Telegram, parse mode HTML: ``&``, ``<``,
``>`` (and ``"`` inside an attribute) as entities, the only escapes that mode knows. A cut never
splits an escape in two.
"""

from __future__ import annotations

import html
import re

ELLIPSIS = "…"
NO_MENTIONS: dict[str, list[str]] = {"parse": []}
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_PARTIAL_ENTITY = re.compile(r"&[a-z]{0,3}$")
_DISCORD_MARKDOWN = re.compile(r"([\\*_~`|\[\]()>#:-])")


def bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, an ellipsis marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def slack_escaped(text: str, limit: int) -> str:
    """``text`` with Slack's markup characters escaped, bounded without cutting an escape in two."""
    escaped = "".join(_SLACK_ESCAPES.get(char, char) for char in text)
    if len(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", escaped[: limit - 1]) + ELLIPSIS


def discord_escaped(text: str) -> str:
    """``text`` with Discord's markdown characters backslash-escaped (a title cannot bold, hide a
    link behind words or quote)."""
    return _DISCORD_MARKDOWN.sub(r"\\\1", text)


def telegram_html_escaped(text: str, *, attribute: bool = False) -> str:
    """``text`` for Telegram's HTML parse mode: ``& < >`` as entities, and ``"`` in an attribute."""
    return html.escape(text, quote=attribute)
