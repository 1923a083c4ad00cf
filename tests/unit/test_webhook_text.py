"""Webhook text: bounded, and inert in the chat it lands in (app/webhook_text)."""

from __future__ import annotations

import json

from charlee_collector.app.collected_event import compose_summary
from charlee_collector.app.webhook_text import SUMMARY_MAX_CHARS, bounded, slack_escaped, webhook_body

HOSTILE = "Dev <!channel> needed & paid <https://evil.example|https://bank.example> @everyone"


def test_slack_markup_is_escaped() -> None:
    assert slack_escaped(HOSTILE) == (
        "Dev &lt;!channel&gt; needed &amp; paid &lt;https://evil.example|https://bank.example&gt; @everyone"
    )
    body, content_type = webhook_body({"summary": HOSTILE}, "slack")
    assert content_type == "application/json"
    assert "<" not in json.loads(body)["text"]


def test_discord_mentions_are_off_and_text_is_kept() -> None:
    body, _ = webhook_body({"summary": HOSTILE, "summary_slack": slack_escaped(HOSTILE)}, "discord")
    assert json.loads(body) == {"content": HOSTILE, "allowed_mentions": {"parse": []}}


def test_plain_text_is_the_summary() -> None:
    assert webhook_body({"summary": HOSTILE}, "text") == (HOSTILE.encode(), "text/plain; charset=utf-8")


def test_every_text_is_bounded_under_discords_limit() -> None:
    long_url = "https://jobs.example.com/" + "a" * 2000
    items = [{"title": f"Job {i}", "external_id": str(i), "url": long_url} for i in range(3)]
    summary = compose_summary("Feed", items, 5, 0)
    assert len(summary) == SUMMARY_MAX_CHARS < 2000 and summary.endswith("…")
    assert SUMMARY_MAX_CHARS - 5 < len(slack_escaped("&" * 5000)) <= SUMMARY_MAX_CHARS
    assert len(bounded("x" * 10)) == 10


def test_a_cut_never_leaves_half_an_escape() -> None:
    for shift in range(6):
        escaped = slack_escaped("x" * (SUMMARY_MAX_CHARS - 3 - shift) + "&" * 10)
        assert len(escaped) <= SUMMARY_MAX_CHARS
        body = escaped.removesuffix("…")
        assert body.endswith(("x", "&amp;")), body[-8:]
