"""A generic JSON webhook, signed: the receiver can tell the body is ours and refuse a replay.

Body: ``{"heading", "notes", "items": [{"title", "url", "source", "score", "budget"}], "more": N,
"more_url"}`` (at most ``MAX_ITEMS`` items; ``more`` counts the rest). Headers:
``X-Charlee-Timestamp`` (Unix seconds, made afresh for each attempt) and ``X-Charlee-Signature:
sha256=<hex>``, the HMAC-SHA256 with the secret's ``signing_key`` over ``<timestamp>.<body>``.
A receiver recomputes it (``signature``) and refuses a timestamp older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from charlee_collector.alerts.channel_secrets import SignedWebhook
from charlee_collector.alerts.channels.base import Transports
from charlee_collector.alerts.http_delivery import ChannelAnswer, post_with_retries
from charlee_collector.alerts.message import MAX_ITEMS, AlertMessage

TIMESTAMP_HEADER = "X-Charlee-Timestamp"
SIGNATURE_HEADER = "X-Charlee-Signature"


def signature(key: str, timestamp: str, body: bytes) -> str:
    """The ``X-Charlee-Signature`` value of ``body`` sent at ``timestamp`` (what a receiver checks)."""
    digest = hmac.new(key.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def body(message: AlertMessage) -> bytes:
    """The JSON the webhook receives."""
    items: list[dict[str, Any]] = [
        {"title": i.title, "url": i.url, "source": i.source, "score": i.score, "budget": i.budget}
        for i in message.items[:MAX_ITEMS]
    ]
    document = {
        "heading": message.heading,
        "notes": list(message.notes),
        "items": items,
        "more": max(len(message.items) - MAX_ITEMS, 0),
        "more_url": message.more_url,
    }
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def send(message: AlertMessage, secret: SignedWebhook, via: Transports) -> ChannelAnswer:
    """Post ``message`` to the secret's webhook, signed with its key."""
    content = body(message)

    def sign() -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(secret.signing_key, timestamp, content),
        }

    return post_with_retries(
        via.http,
        secret.url,
        content=content,
        headers={"Content-Type": "application/json"},
        sign=sign,
        sleep=via.sleep,
    )
