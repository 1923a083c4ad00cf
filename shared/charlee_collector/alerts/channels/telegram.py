"""Telegram Bot API ``sendMessage``, parse mode HTML: ``& < >`` as entities (and ``"`` in a link's
``href``: ``chat_text``), each job an ``<a href>`` link, within 4,096 characters, previews off.
The Bot API answers ``{"ok": true, ...}``; ``ok`` false is a failure whatever the status."""

from __future__ import annotations

from charlee_collector.alerts.channel_secrets import TelegramBot
from charlee_collector.alerts.channels.base import Transports, post_json
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage, more_text, render
from charlee_collector.normalize.chat_text import telegram_html_escaped as escaped

# 4,096 characters after the entities are parsed; counting them unparsed stays under.
LIMIT = 4_000


def _link(url: str | None, words: str) -> str:
    return f'<a href="{escaped(url, attribute=True)}">{escaped(words)}</a>' if url else escaped(words)


def _item(item: AlertItem) -> str:
    return f"• {_link(item.url, item.label)}" + (f" · {escaped(item.details)}" if item.details else "")


def _more(left_out: int, more_url: str | None) -> str:
    words = more_text(left_out, None)
    return _link(more_url, words.split(" (")[0]) if more_url else escaped(words)


def text(message: AlertMessage) -> str:
    """The message's text as Telegram gets it (parse mode HTML)."""
    return render(
        message,
        heading=lambda h: f"<b>{escaped(h)}</b>",
        item_line=_item,
        more_line=_more,
        limit=LIMIT,
        note=escaped,
    )


def send(message: AlertMessage, secret: TelegramBot, via: Transports) -> ChannelAnswer:
    """Send ``message`` to the secret's chat through its bot."""
    body = {
        "chat_id": secret.chat_id,
        "text": text(message),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    url = f"{secret.api_url.rstrip('/')}/bot{secret.bot_token}/sendMessage"
    answer = post_json(via, url, body)
    # The Bot API writes "ok" first in its answer, so the bounded excerpt always holds it.
    if answer.ok and '"ok":true' not in answer.detail.replace(" ", ""):
        return ChannelAnswer(False, answer.status, answer.detail, answer.attempts, answer.retry_at)
    return answer
