"""Each channel against a loopback server answering as its API does (SES through moto): what is
sent, how the answer is read, retries on 429/5xx honouring Retry-After, refusals of a secret."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from charlee_collector.alerts.channels import Transports, send_alert
from charlee_collector.alerts.message import AlertItem, AlertMessage
from charlee_collector.core.errors import InvalidChannelSecret

MESSAGE = AlertMessage(
    "2 new jobs",
    [
        AlertItem("Senior <Python> & Django", "https://jobs.example/1", "remotive", 92, "90 USD/h"),
        AlertItem("@everyone Go engineer", "https://jobs.example/2", "hn_freelancer", 71),
    ],
    more_url="https://app.example/jobs",
)


class Waits(list[float]):
    """The ``sleep`` handed to the channel: records each wait instead of waiting it."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def waits() -> Waits:
    return Waits()


@pytest.fixture
def via(http_client: httpx.Client, waits: Waits) -> Transports:
    return Transports(http=http_client, sleep=waits)


def sent_json(http_server: Any, path: str) -> Any:
    [request] = http_server.requests_to(path)
    return json.loads(request.body)


def test_slack(http_server, via: Transports) -> None:
    http_server.route("/services/T/B/x", body="ok", content_type="text/plain")
    answer = send_alert("slack", {"url": http_server.url("/services/T/B/x")}, MESSAGE, via)
    assert (answer.ok, answer.status, answer.detail, answer.attempts) == (True, 200, "ok", 1)
    body = sent_json(http_server, "/services/T/B/x")
    assert "Senior &lt;Python&gt; &amp; Django" in body["text"] and body["unfurl_links"] is False


def test_slack_says_what_a_refusal_was(http_server, via: Transports) -> None:
    http_server.route("/hook", status=404, body="no_service", content_type="text/plain")
    answer = send_alert("slack", {"url": http_server.url("/hook")}, MESSAGE, via)
    assert (answer.ok, answer.status, answer.detail, answer.attempts) == (False, 404, "no_service", 1)
    assert answer.describe("slack") == "slack answered HTTP 404 (1 attempt): no_service"


def test_discord_without_mentions(http_server, via: Transports) -> None:
    http_server.route("/api/webhooks/1/t", status=204)
    answer = send_alert("discord", {"url": http_server.url("/api/webhooks/1/t")}, MESSAGE, via)
    assert (answer.ok, answer.status) == (True, 204)
    body = sent_json(http_server, "/api/webhooks/1/t")
    assert body["allowed_mentions"] == {"parse": []} and len(body["content"]) <= 2000


def test_telegram_send_message(http_server, via: Transports) -> None:
    path = "/bot123:abc/sendMessage"
    http_server.route(path, body='{"ok":true,"result":{"message_id":7}}', content_type="application/json")
    secret = {"bot_token": "123:abc", "chat_id": -1001, "api_url": http_server.url("/")}
    answer = send_alert("telegram", secret, MESSAGE, via)
    assert answer.ok and answer.status == 200
    body = sent_json(http_server, path)
    assert body["chat_id"] == "-1001" and body["parse_mode"] == "HTML"
    assert '<a href="https://jobs.example/1">[92] Senior &lt;Python&gt; &amp; Django</a>' in body["text"]


def test_telegram_ok_false_is_a_failure(http_server, via: Transports) -> None:
    path = "/botT/sendMessage"
    http_server.route(
        path, status=400, body='{"ok":false,"description":"Bad Request: can\'t parse entities"}'
    )
    answer = send_alert(
        "telegram", {"bot_token": "T", "chat_id": "1", "api_url": http_server.url("/")}, MESSAGE, via
    )
    assert not answer.ok and answer.status == 400 and "can't parse entities" in answer.detail


def test_ntfy_with_a_token(http_server, via: Transports) -> None:
    http_server.route("/jobs", body='{"id":"a1","event":"message"}', content_type="application/json")
    answer = send_alert("ntfy", {"url": http_server.url("/jobs"), "token": "tk_1"}, MESSAGE, via)
    assert answer.ok
    [request] = http_server.requests_to("/jobs")
    assert request.headers["Title"] == "2 new jobs" and request.headers["Click"] == "https://app.example/jobs"
    assert request.headers["Authorization"] == "Bearer tk_1"
    assert "- [92] Senior <Python> & Django (remotive · 90 USD/h)" in request.body.decode()


def test_webhook_signed_over_timestamp_and_body(http_server, via: Transports) -> None:
    key = "a-signing-key-of-some-length"
    http_server.route("/hook", status=202)
    before = int(time.time())
    assert send_alert("webhook", {"url": http_server.url("/hook"), "signing_key": key}, MESSAGE, via).ok
    [request] = http_server.requests_to("/hook")
    timestamp = request.headers["X-Charlee-Timestamp"]
    assert before <= int(timestamp) <= time.time()
    # What a receiver does: recompute over timestamp + "." + body with its copy of the key.
    expected = hmac.new(key.encode(), f"{timestamp}.".encode() + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Charlee-Signature"] == f"sha256={expected}"
    assert json.loads(request.body)["items"][0]["title"] == "Senior <Python> & Django"


def test_retries_on_429_and_5xx_honouring_retry_after(http_server, via: Transports, waits: Waits) -> None:
    http_server.route_sequence(
        "/hook",
        [
            {"status": 429, "headers": {"Retry-After": "3"}},
            {"status": 503},
            {"status": 200, "body": "ok"},
        ],
    )
    answer = send_alert("slack", {"url": http_server.url("/hook")}, MESSAGE, via)
    assert (answer.ok, answer.attempts) == (True, 3)
    assert 2.0 < waits[0] <= 3.0 and waits[1] == 2.0  # Retry-After, then the backoff's second step


def test_a_long_retry_after_is_not_waited_and_is_reported(http_server, via: Transports, waits: Waits) -> None:
    http_server.route("/hook", status=429, headers={"Retry-After": "3600"})
    answer = send_alert("discord", {"url": http_server.url("/hook")}, MESSAGE, via)
    assert (answer.ok, answer.status, answer.attempts, waits) == (False, 429, 1, [])
    assert answer.retry_at is not None and "retry after" in answer.describe("discord")


def test_gives_up_after_the_attempts_and_never_names_the_path(via: Transports, waits: Waits) -> None:
    answer = send_alert("slack", {"url": "http://127.0.0.1:9/services/T/B/secret-token"}, MESSAGE, via)
    assert (answer.ok, answer.status, answer.attempts, waits) == (False, None, 4, [1.0, 2.0, 4.0])
    assert "127.0.0.1" in answer.detail and "secret-token" not in answer.detail


@pytest.mark.parametrize(
    ("channel", "secret", "named"),
    [
        ("slack", {}, "key 'url'"),
        ("slack", "https://hooks.slack.com/x", "JSON object"),
        ("discord", {"url": "http://discord.example/api/webhooks/1/secret"}, "https://"),
        ("telegram", {"bot_token": "t"}, "key 'chat_id'"),
        ("webhook", {"url": "https://h.example", "signing_key": "short"}, "key 'signing_key'"),
        ("email", {"to": "not-an-address", "from": "a@b.example"}, "key 'to.0'"),
    ],
)
def test_a_secret_that_does_not_fit_is_named_never_shown(channel: str, secret: Any, named: str, via) -> None:
    with pytest.raises(InvalidChannelSecret) as raised:
        send_alert(channel, secret, MESSAGE, via)
    assert named in str(raised.value) and "secret/" not in str(raised.value)


@pytest.fixture
def ses(aws_env: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ses", region_name="us-east-1")


def test_email_through_ses(ses: Any, http_client: httpx.Client) -> None:
    via = Transports(http=http_client, ses=ses)
    secret = {"to": "me@example.org", "from": "alerts@example.org"}
    refused = send_alert("email", secret, MESSAGE, via)
    assert not refused.ok and "MessageRejected" in refused.detail  # the sender is not verified yet
    ses.verify_email_identity(EmailAddress="alerts@example.org")
    answer = send_alert("email", secret, MESSAGE, via)
    assert answer.ok and answer.status == 200 and answer.detail.startswith("MessageId ")
    assert ses.get_send_quota()["SentLast24Hours"] == 1
