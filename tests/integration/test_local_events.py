"""The local event bus: EventBridge's checks per entry, and the webhook (the local HTTP server)."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from typing import Any

import pytest

from charlee_collector.app.webhook_text import webhook_body
from charlee_collector.core.settings import Settings
from charlee_collector_tools.local.event_bus import ENTRY_LIMIT_BYTES, LocalEventBus


def entry(summary: str = "2 new on Feed: A https://a, B https://b", **detail: Any) -> dict[str, Any]:
    return {
        "Source": "charlee.collector",
        "DetailType": "OpportunitiesCollected",
        "Detail": json.dumps({"summary": summary, **detail}),
        "EventBusName": "local",
    }


@pytest.fixture
def webhook_settings(allow_private_networks: Settings, http_server: Any) -> Settings:
    http_server.route("/hook", body="ok")
    return replace(allow_private_networks, events_webhook_url=http_server.url("/hook"))


@pytest.mark.parametrize(
    ("style", "content_type", "body"),
    [
        ("slack", "application/json", {"text": "2 new on Feed: A https://a, B https://b"}),
        (
            "discord",
            "application/json",
            {"content": "2 new on Feed: A https://a, B https://b", "allowed_mentions": {"parse": []}},
        ),
        ("text", "text/plain; charset=utf-8", "2 new on Feed: A https://a, B https://b"),
    ],
)
def test_each_accepted_event_posts_its_summary_to_the_webhook(
    webhook_settings: Settings, http_server: Any, style: str, content_type: str, body: Any
) -> None:
    bus = LocalEventBus(replace(webhook_settings, events_webhook_format=style))
    answer = bus.put_events(Entries=[entry()])
    bus.close()

    assert answer["FailedEntryCount"] == 0 and answer["Entries"][0]["EventId"]
    (request,) = http_server.requests_to("/hook")
    assert request.method == "POST" and request.headers["Content-Type"] == content_type
    sent = request.body.decode("utf-8")
    assert (json.loads(sent) if style != "text" else sent) == body


def test_a_webhook_that_fails_refuses_the_entry_so_it_stays_pending(
    webhook_settings: Settings, http_server: Any
) -> None:
    http_server.route("/hook", status=500, body="down")
    bus = LocalEventBus(webhook_settings)
    answer = bus.put_events(Entries=[entry(), entry("1 new on Feed: C")])
    bus.close()
    assert answer["FailedEntryCount"] == 2
    assert {a["ErrorCode"] for a in answer["Entries"]} == {"WebhookFailed"}
    assert answer["Entries"][0]["ErrorMessage"] == "the webhook answered HTTP 500"
    assert http_server.url("/hook") not in json.dumps(answer)  # the URL is a secret


def test_a_webhook_on_a_private_address_needs_private_networks_allowed(http_server: Any) -> None:
    http_server.route("/hook", body="ok")
    settings = Settings(events_webhook_url=http_server.url("/hook"))  # private networks refused
    answer = LocalEventBus(settings).put_events(Entries=[entry()])
    assert answer["Entries"][0] == {
        "ErrorCode": "WebhookFailed",
        "ErrorMessage": "the webhook could not be reached: its URL is refused (http or https only; "
        "a private or loopback address needs COLLECTOR_ALLOW_PRIVATE_NETWORKS=true)",
    }
    assert http_server.requests_to("/hook") == []


def test_a_webhook_nobody_listens_on_is_named_unreachable_with_the_cause(
    allow_private_networks: Settings,
) -> None:
    with socket.socket() as sock:  # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    bus = LocalEventBus(replace(allow_private_networks, events_webhook_url=url))
    answer = bus.put_events(Entries=[entry()])
    bus.close()
    assert answer["Entries"][0] == {
        "ErrorCode": "WebhookFailed",
        "ErrorMessage": "the webhook could not be reached: connection refused (is its server running?)",
    }


def test_entries_are_checked_as_eventbridge_checks_them() -> None:
    bus = LocalEventBus(Settings())
    too_big = entry("x" * ENTRY_LIMIT_BYTES)
    answer = bus.put_events(
        Entries=[entry(), {**entry(), "Detail": "not json"}, too_big, {**entry(), "Source": ""}]
    )
    codes = [a.get("ErrorCode") for a in answer["Entries"]]
    assert codes == [None, "InvalidArgument", "InvalidArgument", "InvalidArgument"]
    assert answer["FailedEntryCount"] == 3
    with pytest.raises(ValueError, match="1 to 10 entries"):
        bus.put_events(Entries=[entry()] * 11)


def test_a_hostile_title_reaches_slack_escaped(webhook_settings: Settings, http_server: Any) -> None:
    bus = LocalEventBus(webhook_settings)
    bus.put_events(Entries=[entry("1 new on Feed: <!channel> & <https://evil|https://bank>")])
    bus.close()
    (request,) = http_server.requests_to("/hook")
    assert json.loads(request.body) == {
        "text": "1 new on Feed: &lt;!channel&gt; &amp; &lt;https://evil|https://bank&gt;"
    }


def test_webhook_bodies_escape_what_the_summary_holds() -> None:
    body, _type = webhook_body({"summary": 'say "hi"\n'}, "slack")
    assert json.loads(body) == {"text": 'say "hi"\n'}
