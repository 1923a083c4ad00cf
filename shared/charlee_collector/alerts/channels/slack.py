"""Slack incoming webhook: ``{"text": ...}`` in Slack's mrkdwn, ``& < >`` escaped (``chat_text``),
each job a ``<url|title>`` link, within ``LIMIT`` characters; link previews off."""

from __future__ import annotations

from charlee_collector.alerts.channel_secrets import WebhookUrl
from charlee_collector.alerts.channels.base import Transports, post_json, url_in_markup
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage, more_text, render
from charlee_collector.normalize.chat_text import slack_escaped

# Slack cuts a message's text at 40,000 characters and advises 4,000 for reading: a phone screen.
LIMIT = 3_900


def _escaped(text: str) -> str:
    return slack_escaped(text, LIMIT)


def _link(url: str | None, words: str) -> str:
    # In <url|words> a ``|`` or ``>`` in the URL would end it: encoded; the words are escaped.
    return f"<{url_in_markup(_escaped(url), '|>')}|{_escaped(words)}>" if url else _escaped(words)


def _item(item: AlertItem) -> str:
    return f"• {_link(item.url, item.label)}" + (f" · {_escaped(item.details)}" if item.details else "")


def _more(left_out: int, more_url: str | None) -> str:
    return (
        _link(more_url, more_text(left_out, None).split(" (")[0])
        if more_url
        else _escaped(more_text(left_out, None))
    )


def text(message: AlertMessage) -> str:
    """The message's text as Slack gets it."""
    return render(
        message,
        heading=lambda h: f"*{_escaped(h)}*",
        item_line=_item,
        more_line=_more,
        limit=LIMIT,
        note=_escaped,
    )


def send(message: AlertMessage, secret: WebhookUrl, via: Transports) -> ChannelAnswer:
    """Post ``message`` to the secret's Slack webhook."""
    return post_json(via, secret.url, {"text": text(message), "unfurl_links": False, "unfurl_media": False})
