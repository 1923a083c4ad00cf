"""alerts/message.py and each channel's rendering: provider text made inert per channel, long
lists cut with a link to the rest, every text within its channel's limit."""

from __future__ import annotations

import json

import pytest

from charlee_collector.alerts.channels import discord, email, ntfy, slack, telegram, webhook
from charlee_collector.alerts.message import MAX_ITEMS, AlertItem, AlertMessage

HOSTILE = AlertItem(
    title="<!channel> @everyone **Rich** & [free](https://evil.example) <b>x</b>",
    url="https://jobs.example/1?a=1&b=<2>|)",
    source="remotive",
    score=92,
    budget="90 USD/h",
)


def many(count: int, title: str = "Python developer " * 5) -> AlertMessage:
    items = [AlertItem(f"{title}{n}", f"https://jobs.example/{n}", "remotive", 80) for n in range(count)]
    return AlertMessage(f"{count} new jobs", items, more_url="https://app.example/jobs?rule=7")


def test_slack_escapes_markup_and_cannot_end_a_link_early() -> None:
    text = slack.text(AlertMessage("1 new job", [HOSTILE]))
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "<https://jobs.example/1?a=1&amp;b=&lt;2&gt;%7C)|[92] &lt;!channel&gt;" in text
    assert text.count("<") == text.count(">") == 1  # the one link, nothing else


def test_discord_turns_markdown_off_and_links_without_previews() -> None:
    text = discord.text(AlertMessage("1 new job", [HOSTILE]))
    assert r"\*\*Rich\*\*" in text and r"\[free\]\(https" in text
    assert "(<https://jobs.example/1?a=1&b=%3C2%3E|%29>)" in text


def test_telegram_html_parse_mode_entities() -> None:
    text = telegram.text(AlertMessage("1 new job", [HOSTILE]))
    assert '<a href="https://jobs.example/1?a=1&amp;b=&lt;2&gt;|)">' in text
    assert "&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text
    assert text.startswith("<b>1 new job</b>")


def test_email_html_is_escaped_and_plain_text_is_as_written() -> None:
    plain, rich = email.bodies(AlertMessage("1 new job", [HOSTILE]))
    assert "<b>x</b>" in plain and "<b>x</b>" not in rich and "&lt;b&gt;x&lt;/b&gt;" in rich


@pytest.mark.parametrize(
    ("render", "limit"),
    [
        (slack.text, slack.LIMIT),
        (discord.text, discord.LIMIT),
        (telegram.text, telegram.LIMIT),
        (lambda m: email.bodies(m)[0], email.LIMIT),
    ],
)
def test_long_lists_are_cut_within_the_limit_with_a_link_to_the_rest(render, limit) -> None:
    for message in (many(500), many(60, title="Ünïcødé & <markup> " * 10)):
        text = render(message)
        assert len(text) <= limit
        assert "more jobs" in text and "https://app.example/jobs?rule=7" in text
    few = render(many(3))
    assert "more job" not in few and few.count("jobs.example") == 3


def test_at_most_max_items_and_the_count_left_out() -> None:
    text = telegram.text(many(MAX_ITEMS + 5, title="x"))
    assert text.count("jobs.example") == MAX_ITEMS and "…and 5 more jobs" in text


def test_without_a_link_the_cut_line_names_the_command() -> None:
    message = AlertMessage("30 new jobs", many(30).items)
    assert "…and 10 more jobs (charlee-collector opportunities)" in slack.text(message)


def test_ntfy_fits_its_byte_limit() -> None:
    body = ntfy.text(many(200, title="ü" * 150))
    assert len(body.encode()) <= ntfy.MAX_BYTES and "more jobs" in body


def test_the_webhook_signature_is_over_timestamp_and_body() -> None:
    body = webhook.body(many(25))
    document = json.loads(body)
    assert len(document["items"]) == MAX_ITEMS and document["more"] == 5
    first = webhook.signature("k" * 32, "1700000000", body)
    assert first.startswith("sha256=") and len(first) == 7 + 64
    assert webhook.signature("k" * 32, "1700000001", body) != first  # a replay with a new time fails
    assert webhook.signature("k" * 32, "1700000000", body + b" ") != first
