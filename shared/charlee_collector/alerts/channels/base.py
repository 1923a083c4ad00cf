"""What every channel module is handed, and the one function each provides.

A channel module renders an ``AlertMessage`` in its own escaping and sends it:
``send(message, secret, via) -> ChannelAnswer``, ``secret`` being its checked secret
(``alerts/channel_secrets.py``) and ``via`` the ``Transports`` (the HTTP client, the SES client,
how to wait between attempts), handed in as httpx hands a transport to a client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from charlee_collector.alerts.http_delivery import ChannelAnswer, post_with_retries
from charlee_collector.alerts.message import AlertMessage


@dataclass(frozen=True)
class Transports:
    """The clients a channel sends with: ``http`` (``fetching.client.build_client``: the SSRF
    guard applies to every webhook URL), ``ses`` (a boto3 SES client, for email) and ``sleep``."""

    http: httpx.Client
    ses: Any = None
    sleep: Callable[[float], None] = field(default=time.sleep)


class Channel(Protocol):
    """A channel module's ``send``."""

    def __call__(self, message: AlertMessage, secret: Any, via: Transports) -> ChannelAnswer: ...


def url_in_markup(url: str, unsafe: str) -> str:
    """``url`` with each of ``unsafe`` (the characters that would end the markup around it) and
    whitespace percent-encoded, so a provider's URL cannot close a link and write after it."""
    return "".join(quote(char, safe="") if char in unsafe or char.isspace() else char for char in url)


def post_json(via: Transports, url: str, payload: dict[str, Any]) -> ChannelAnswer:
    """POST ``payload`` as JSON to ``url`` with the retries every chat channel gets."""
    return post_with_retries(
        via.http,
        url,
        content=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        sleep=via.sleep,
    )
