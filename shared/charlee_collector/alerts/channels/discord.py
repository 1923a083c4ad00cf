"""Discord incoming webhook: ``{"content": ..., "allowed_mentions": {"parse": []}}`` (no
``@everyone``, no role or user pinged), markdown escaped (``chat_text``), each job a
``[title](<url>)`` link without embeds, within Discord's 2,000 characters."""

from __future__ import annotations

from charlee_collector.alerts.channel_secrets import WebhookUrl
from charlee_collector.alerts.channels.base import Transports, post_json, url_in_markup
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage, more_text, render
from charlee_collector.normalize.chat_text import NO_MENTIONS, discord_escaped

LIMIT = 2_000
# Discord's flag "suppress embeds": a message of 20 links is not 20 previews.
SUPPRESS_EMBEDS = 1 << 2


def _link(url: str | None, words: str) -> str:
    # <url> inside the parentheses: no preview; ``)``, ``<`` and ``>`` in a URL would end it.
    return f"[{discord_escaped(words)}](<{url_in_markup(url, '()<>')}>)" if url else discord_escaped(words)


def _item(item: AlertItem) -> str:
    return f"- {_link(item.url, item.label)}" + (
        f" · {discord_escaped(item.details)}" if item.details else ""
    )


def _more(left_out: int, more_url: str | None) -> str:
    words = more_text(left_out, None)
    return _link(more_url, words.split(" (")[0]) if more_url else discord_escaped(words)


def text(message: AlertMessage) -> str:
    """The message's content as Discord gets it."""
    return render(
        message,
        heading=lambda h: f"**{discord_escaped(h)}**",
        item_line=_item,
        more_line=_more,
        limit=LIMIT,
        note=discord_escaped,
    )


def send(message: AlertMessage, secret: WebhookUrl, via: Transports) -> ChannelAnswer:
    """Post ``message`` to the secret's Discord webhook."""
    body = {"content": text(message), "allowed_mentions": NO_MENTIONS, "flags": SUPPRESS_EMBEDS}
    return post_json(via, secret.url, body)
