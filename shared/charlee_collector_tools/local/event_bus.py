"""The local event bus: what EventBridge and the stack's webhook rule do, in this process.

``LocalEventBus.put_events`` takes boto3's EventBridge call, so the outbox publishes with the same
code (``publishing.publish_rows``), and checks each entry as EventBridge does (10 a call, Source,
DetailType, a JSON-object Detail, 256 KiB an entry). It keeps no copy: an accepted event is its
outbox row marked published. With ``EVENTS_WEBHOOK_URL`` set, each accepted event's summary is
posted there through ``fetching.client.build_client``; a failed post is a refused entry
(``WebhookFailed``), so the row stays pending for the next tick. The URL is registered as a secret.
Each accepted OpportunitiesCollected event is also kept, as the stack's NotificationsRule puts it
in NotificationsQueue (EventBridge's envelope around the detail), until the runner hands what a
tick brought to the notifier handler (``take_notifications``; ``requeue`` what it refused).
"""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

from charlee_collector.core.settings import Settings
from charlee_collector.observability.redaction import register_secret_values

if TYPE_CHECKING:
    from charlee_collector.app.publishing import EventBus

BUS_NAME = "local"
MAX_ENTRIES = 10
ENTRY_LIMIT_BYTES = 256 * 1024
TIME_BYTES = 14  # what EventBridge counts for an entry's Time, whatever its value


class LocalEventBus:
    """An in-process EventBridge bus with the stack's webhook subscriber."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._webhook = settings.events_webhook_url
        self._client: Any = None
        self._lock = threading.Lock()
        self._notifications: list[tuple[str, str]] = []
        if self._webhook:
            register_secret_values([self._webhook])

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        if not 1 <= len(Entries) <= MAX_ENTRIES:
            raise ValueError(f"PutEvents takes 1 to {MAX_ENTRIES} entries, got {len(Entries)}")
        answers = [self._accept(entry) for entry in Entries]
        return {"FailedEntryCount": sum("ErrorCode" in a for a in answers), "Entries": answers}

    def take_notifications(self) -> list[tuple[str, str]]:
        """The (message id, body) of every event accepted since the last take, oldest first."""
        with self._lock:
            taken, self._notifications = self._notifications, []
        return taken

    def requeue(self, notifications: list[tuple[str, str]]) -> None:
        """Put back what the notifier reported failed: the next take offers it again."""
        with self._lock:
            self._notifications[:0] = notifications

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def _accept(self, entry: dict[str, Any]) -> dict[str, Any]:
        refused = _invalid(entry)
        if refused:
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": refused}
        if self._webhook:
            problem = self._post(json.loads(entry["Detail"]))
            if problem:
                return {"ErrorCode": "WebhookFailed", "ErrorMessage": problem}
        event_id = str(uuid.uuid4())
        if entry["DetailType"] == "OpportunitiesCollected":
            envelope = {
                "id": event_id,
                "source": entry["Source"],
                "detail-type": entry["DetailType"],
                "detail": json.loads(entry["Detail"]),
            }
            with self._lock:
                self._notifications.append((event_id, json.dumps(envelope)))
        return {"EventId": event_id}

    def _post(self, detail: dict[str, Any]) -> str | None:
        """Post one event's summary; None when the webhook took it, else why not (never the URL)."""
        import httpx

        from charlee_collector.app.webhook_text import webhook_body
        from charlee_collector.core.errors import SourceError
        from charlee_collector.fetching.client import build_client, check_destination

        body, content_type = webhook_body(detail, self._settings.events_webhook_format)
        try:
            url = httpx.URL(self._webhook or "")
            check_destination(url, self._settings)
            with self._lock:
                if self._client is None:
                    self._client = build_client(self._settings)
                client = self._client
            response = client.post(url, content=body, headers={"Content-Type": content_type})
        except (httpx.HTTPError, SourceError, ValueError) as exc:
            return f"the webhook could not be reached: {_unreachable(exc)}"
        if not 200 <= response.status_code < 300:
            return f"the webhook answered HTTP {response.status_code}"
        return None


def _unreachable(exc: Exception) -> str:
    """Why a post did not reach the webhook, in words that never hold its URL (a secret)."""
    import httpx

    from charlee_collector.core.errors import SourceError

    if isinstance(exc, httpx.TimeoutException):
        return "it did not answer in time"
    if isinstance(exc, SourceError | httpx.UnsupportedProtocol | ValueError):
        return (
            "its URL is refused (http or https only; a private or loopback address needs "
            "COLLECTOR_ALLOW_PRIVATE_NETWORKS=true)"
        )
    # The socket's own words ("Connection refused", "Name or service not known"), never the URL.
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return f"{cause.strerror.lower()} (is its server running?)"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def _invalid(entry: dict[str, Any]) -> str | None:
    for name in ("Source", "DetailType", "Detail"):
        if not entry.get(name):
            return f"{name} is a required argument"
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        return "Detail is malformed"
    if not isinstance(detail, dict):
        return "Detail must be a JSON object"
    size = (
        sum(len(str(entry[name]).encode("utf-8")) for name in ("Source", "DetailType", "Detail")) + TIME_BYTES
    )
    if size > ENTRY_LIMIT_BYTES:
        return f"the entry is {size} bytes; EventBridge takes at most {ENTRY_LIMIT_BYTES}"
    return None


def local_event_bus(settings: Settings) -> EventBus:
    """The local bus as the outbox publishes to it."""
    from charlee_collector.app.publishing import EventBus

    return EventBus(LocalEventBus(settings), BUS_NAME)
