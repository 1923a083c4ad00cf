"""What a webhook posts for an event: the summary, bounded, made inert for the chat it lands in.

Job titles come from the internet. In Slack's text ``&``, ``<`` and ``>`` are markup (``<!channel>``
pings everyone, ``<https://x|y>`` hides a link behind other words): the event carries
``summary_slack`` with the three escaped as Slack documents. Discord's ``@everyone`` and role
mentions are switched off by the body's ``allowed_mentions`` (no parse), not by editing the text.
Both texts are bounded by ``SUMMARY_MAX_CHARS``, under Discord's 2,000-character message limit
(the smallest of the three formats). The stack's rule builds the same bodies (template.yaml,
WebhookRule); the local bus posts ``webhook_body``. The escaping itself is
``normalize/chat_text.py``'s, shared with the alerts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from charlee_collector.normalize.chat_text import ELLIPSIS, NO_MENTIONS
from charlee_collector.normalize.chat_text import bounded as bounded_to
from charlee_collector.normalize.chat_text import slack_escaped as slack_escaped_to

SUMMARY_MAX_CHARS = 1_900

__all__ = ["ELLIPSIS", "NO_MENTIONS", "SUMMARY_MAX_CHARS", "bounded", "slack_escaped", "webhook_body"]


def bounded(text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters (the summary's by default), an ellipsis marking the cut."""
    return bounded_to(text, limit)


def slack_escaped(text: str, limit: int = SUMMARY_MAX_CHARS) -> str:
    """``text`` with Slack's markup characters escaped, bounded (the summary's limit by default)."""
    return slack_escaped_to(text, limit)


def webhook_body(detail: Mapping[str, Any], style: str) -> tuple[bytes, str]:
    """The body and content type the webhook gets for an event's ``detail`` in ``style``."""
    summary = str(detail.get("summary") or "")
    if style == "text":
        return summary.encode("utf-8"), "text/plain; charset=utf-8"
    if style == "discord":
        body: dict[str, Any] = {"content": summary, "allowed_mentions": NO_MENTIONS}
    else:
        body = {"text": str(detail.get("summary_slack") or slack_escaped(summary))}
    return json.dumps(body).encode("utf-8"), "application/json"
