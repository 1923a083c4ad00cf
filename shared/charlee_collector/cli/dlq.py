"""``dlq list`` and ``dlq redrive``: read the dead-letter queue, move its messages back.

A redrive receives a batch from the DLQ, sends it to the collect queue, and only then deletes it
from the DLQ. Interrupted between the two, a message is in both queues (its DLQ copy reappears
after the visibility timeout): a duplicate, which the collector tolerates, never a loss.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from charlee_collector.cli.common import (
    BadInput,
    CliError,
    clip,
    err,
    out,
    print_json,
    sqs_client,
    table,
    when,
)

app = typer.Typer(help="Inspect the dead-letter queue and move its messages back.", no_args_is_help=True)

WAIT_SECONDS = 1  # long polling: short polls may miss messages on real SQS
DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]

DlqUrl = Annotated[
    str | None,
    typer.Option(
        "--dlq-url",
        envvar="COLLECT_DLQ_URL",
        help="The dead-letter queue (default: the collect queue's RedrivePolicy target).",
    ),
]
QueueUrl = Annotated[
    str | None,
    typer.Option(
        "--queue-url",
        envvar="COLLECT_QUEUE_URL",
        help="The collect queue (default: the DLQ's only source queue).",
    ),
]
EndpointUrl = Annotated[
    str | None, typer.Option("--endpoint-url", help="A non-AWS SQS endpoint (moto, LocalStack).")
]


# --- SQS helpers (status uses them too) ----------------------------------------------------------


def depth(sqs: Any, url: str) -> dict[str, int]:
    """Visible, in-flight and delayed message counts of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH_ATTRIBUTES)["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def dlq_of(sqs: Any, queue_url: str) -> str | None:
    """The DLQ named by the queue's RedrivePolicy, or None when it has none."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attributes.get("RedrivePolicy")
    if not policy:
        return None
    arn = json.loads(policy)["deadLetterTargetArn"]
    *_, account, name = arn.split(":")
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def resolve_dlq(sqs: Any, dlq_url: str | None, queue_url: str | None) -> str:
    if dlq_url:
        return dlq_url
    if queue_url:
        found = dlq_of(sqs, queue_url)
        if found:
            return found
        raise BadInput(f"the queue {queue_url} has no RedrivePolicy: give --dlq-url")
    raise BadInput("no dead-letter queue: give --dlq-url (or set COLLECT_DLQ_URL or COLLECT_QUEUE_URL)")


def resolve_source(sqs: Any, dlq_url: str, queue_url: str | None) -> str:
    if queue_url:
        return queue_url
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) == 1:
        return sources[0]
    raise BadInput(
        f"the DLQ feeds {len(sources)} queues: give --queue-url (or set COLLECT_QUEUE_URL) to say where to"
    )


def peek(sqs: Any, url: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, received and made visible again at once."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(messages)),
            WaitTimeSeconds=WAIT_SECONDS,
            VisibilityTimeout=30,  # long enough not to see the same message twice in this loop
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )
    return messages


class RedriveInterrupted(Exception):
    """The batch in progress was sent to the collect queue but could not be deleted from the DLQ."""

    def __init__(self, moved: int, pending: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.moved, self.pending, self.cause = moved, pending, cause


@dataclass
class RedriveResult:
    moved: int = 0
    not_sent: list[str] = field(default_factory=list)
    not_deleted: list[str] = field(default_factory=list)


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    limit: int | None,
    visibility_timeout: int = 60,
    on_moved: Callable[[int], None] = lambda _n: None,
) -> RedriveResult:
    """Move up to ``limit`` messages (all when None): receive, send, THEN delete."""
    result = RedriveResult()
    while limit is None or result.moved < limit:
        want = 10 if limit is None else min(10, limit - result.moved)
        batch = sqs.receive_message(
            QueueUrl=dlq_url,
            MaxNumberOfMessages=want,
            WaitTimeSeconds=WAIT_SECONDS,
            VisibilityTimeout=visibility_timeout,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        by_id = {str(i): m for i, m in enumerate(batch)}
        entries = []
        for key, message in by_id.items():
            entry: dict[str, Any] = {"Id": key, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                entry["MessageAttributes"] = message["MessageAttributes"]
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
        sent = [e["Id"] for e in response.get("Successful", [])]
        unsent = [e["Id"] for e in response.get("Failed", [])]
        if unsent:
            # Left in the DLQ and made visible again: nothing is deleted that was not sent.
            result.not_sent.extend(by_id[key]["MessageId"] for key in unsent)
            sqs.change_message_visibility_batch(
                QueueUrl=dlq_url,
                Entries=[
                    {"Id": key, "ReceiptHandle": by_id[key]["ReceiptHandle"], "VisibilityTimeout": 0}
                    for key in unsent
                ],
            )
        if sent:
            try:
                deleted = sqs.delete_message_batch(
                    QueueUrl=dlq_url,
                    Entries=[{"Id": key, "ReceiptHandle": by_id[key]["ReceiptHandle"]} for key in sent],
                )
            except Exception as exc:
                raise RedriveInterrupted(result.moved, len(sent), exc) from exc
            result.not_deleted.extend(by_id[e["Id"]]["MessageId"] for e in deleted.get("Failed", []))
            result.moved += len(sent)
            on_moved(len(sent))
        if unsent:
            break  # the collect queue refuses messages: stop instead of spinning on them
    return result


# --- commands ----------------------------------------------------------------------------------


def _sent_at(message: dict[str, Any]) -> datetime | None:
    raw = message.get("Attributes", {}).get("SentTimestamp")
    return datetime.fromtimestamp(int(raw) / 1000, UTC) if raw else None


@app.command("list")
def list_(
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: EndpointUrl = None,
    limit: Annotated[int, typer.Option("--limit", help="Show at most this many messages.", min=1)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array instead of a table.")] = False,
) -> None:
    """Show the messages waiting in the dead-letter queue (they stay there)."""
    sqs = sqs_client(dlq_url or queue_url, endpoint_url)
    url = resolve_dlq(sqs, dlq_url, queue_url)
    messages = peek(sqs, url, limit)
    rows = [
        {
            "message_id": m["MessageId"],
            "sent_at": _sent_at(m),
            "receive_count": int(m.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
            "body": m["Body"],
        }
        for m in messages
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        err.print("the dead-letter queue is empty")
        return
    out.print(
        table(
            f"Dead-letter queue ({len(rows)})",
            ["Message", "Sent", "Receives", "Body"],
            [
                (
                    r["message_id"],
                    when(r["sent_at"]),
                    r["receive_count"],
                    clip(r["body"], 100),
                )
                for r in rows
            ],
        )
    )


@app.command("redrive")
def redrive_command(
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: EndpointUrl = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Move at most this many messages.", min=1)
    ] = None,
    visibility_timeout: Annotated[
        int,
        typer.Option(
            "--visibility-timeout",
            help="Seconds a received message stays hidden in the DLQ while it is being moved.",
            min=1,
        ),
    ] = 60,
) -> None:
    """Move messages from the dead-letter queue back to the collect queue.

    Each batch is sent to the collect queue before it is deleted from the DLQ, so an
    interruption can leave a duplicate but never loses a message.
    """
    sqs = sqs_client(dlq_url or queue_url, endpoint_url)
    source = resolve_dlq(sqs, dlq_url, queue_url)
    target = resolve_source(sqs, source, queue_url)
    total = depth(sqs, source)["visible"]
    moved = 0

    def count(n: int) -> None:
        nonlocal moved
        moved += n
        status.update(f"redriving: {moved} of ~{total} moved")

    try:
        with err.status(f"redriving: 0 of ~{total} moved") as status:
            result = redrive(
                sqs, source, target, limit=limit, visibility_timeout=visibility_timeout, on_moved=count
            )
    except RedriveInterrupted as exc:
        raise CliError(
            f"redrive stopped after moving {exc.moved} message(s): {exc.pending} more were sent to the "
            f"collect queue but could not be deleted from the DLQ ({exc.cause}); they reappear there "
            f"after {visibility_timeout}s (duplicates, not losses)"
        ) from None
    out.print(f"moved {result.moved} message(s) to {target}")
    if result.not_deleted:
        err.print(
            f"[yellow]warning:[/] {len(result.not_deleted)} moved message(s) could not be deleted from the "
            "DLQ and will reappear there (duplicates): " + ", ".join(result.not_deleted)
        )
    if result.not_sent:
        raise CliError(f"{len(result.not_sent)} message(s) could not be sent and stay in the DLQ")
