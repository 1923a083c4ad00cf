"""Email through SES: the heading as the subject, the jobs as plain text and as HTML (every
provider's text HTML-escaped; links as ``<a href>``). SES's client retries its own throttling;
an AWS error is the answer, with its cause (``core/aws.py``), never raised."""

from __future__ import annotations

import html

from charlee_collector.alerts.channel_secrets import EmailAddresses
from charlee_collector.alerts.channels.base import Transports
from charlee_collector.alerts.http_delivery import ChannelAnswer
from charlee_collector.alerts.message import AlertItem, AlertMessage, more_text, render
from charlee_collector.core.aws import aws_cause
from charlee_collector.normalize.chat_text import bounded

LIMIT = 50_000
SUBJECT_CHARS = 200


def _plain_item(item: AlertItem) -> str:
    return (
        f"- {item.label}"
        + (f" ({item.details})" if item.details else "")
        + (f"\n  {item.url}" if item.url else "")
    )


def _html_link(url: str | None, words: str) -> str:
    return f'<a href="{html.escape(url)}">{html.escape(words)}</a>' if url else html.escape(words)


def _html_item(item: AlertItem) -> str:
    details = f" · {html.escape(item.details)}" if item.details else ""
    return f"<p>{_html_link(item.url, item.label)}{details}</p>"


def _html_more(left_out: int, more_url: str | None) -> str:
    words = more_text(left_out, None)
    return f"<p>{_html_link(more_url, words.split(' (')[0]) if more_url else html.escape(words)}</p>"


def bodies(message: AlertMessage) -> tuple[str, str]:
    """The plain-text and HTML bodies."""
    plain = render(message, heading=str, item_line=_plain_item, more_line=more_text, limit=LIMIT)
    rich = render(
        message,
        heading=lambda h: f"<h3>{html.escape(h)}</h3>",
        item_line=_html_item,
        more_line=_html_more,
        limit=LIMIT,
        note=lambda n: f"<p>{html.escape(n)}</p>",
    )
    return plain, rich


def send(message: AlertMessage, secret: EmailAddresses, via: Transports) -> ChannelAnswer:
    """Send ``message`` by email to the secret's addresses."""
    plain, rich = bodies(message)
    try:
        answer = via.ses.send_email(
            Source=secret.sender,
            Destination={"ToAddresses": secret.to},
            Message={
                "Subject": {
                    "Data": bounded(" ".join(message.heading.split()), SUBJECT_CHARS),
                    "Charset": "UTF-8",
                },
                "Body": {
                    "Text": {"Data": plain, "Charset": "UTF-8"},
                    "Html": {"Data": rich, "Charset": "UTF-8"},
                },
            },
        )
    except Exception as exc:  # botocore's ClientError and BotoCoreError: the answer, not a crash
        return ChannelAnswer(False, None, aws_cause(exc), 1)
    status = answer.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return ChannelAnswer(True, status, f"MessageId {answer.get('MessageId')}", 1)
