"""ntfy: the message as plain text (ntfy shows it as written: nothing to escape) POSTed to the
topic's URL, its heading in the ``Title`` header, the link to the rest in ``Click``, an access
token as a bearer token. Within 4,096 bytes: beyond that ntfy turns a message into an attachment."""

from __future__ import annotations

from charlee_collector.alerts.channel_secrets import NtfyTopic
from charlee_collector.alerts.channels.base import Transports
from charlee_collector.alerts.http_delivery import ChannelAnswer, post_with_retries
from charlee_collector.alerts.message import AlertItem, AlertMessage, more_text, render

MAX_BYTES = 4_096


def _item(item: AlertItem) -> str:
    return (
        f"- {item.label}"
        + (f" ({item.details})" if item.details else "")
        + (f"\n  {item.url}" if item.url else "")
    )


def text(message: AlertMessage) -> str:
    """The message's body, cut to fit ``MAX_BYTES`` once encoded."""
    limit = MAX_BYTES
    while True:
        body = render(message, heading=str, item_line=_item, more_line=more_text, limit=limit)
        if len(body.encode("utf-8")) <= MAX_BYTES:
            return body
        limit = limit * 3 // 4


def _header_text(value: str) -> str:
    # Header values travel as Latin-1 at most; the heading is ours, but a rule's words are not.
    return value.encode("ascii", "replace").decode("ascii")


def send(message: AlertMessage, secret: NtfyTopic, via: Transports) -> ChannelAnswer:
    """Publish ``message`` to the secret's ntfy topic."""
    headers = {"Title": _header_text(message.heading), "Content-Type": "text/plain; charset=utf-8"}
    if message.more_url:
        headers["Click"] = _header_text(message.more_url)
    if secret.token:
        headers["Authorization"] = f"Bearer {secret.token}"
    return post_with_retries(
        via.http, secret.url, content=text(message).encode(), headers=headers, sleep=via.sleep
    )
