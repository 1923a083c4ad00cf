"""``dlq list|delete|purge|redrive``: read the dead-letter queue, clean it, move its messages back.

The operations and where each of their failures goes are in ``dead_letters.py``. ``purge`` is
SQS's PurgeQueue (every message, in flight too); SQS allows one a minute per queue, and a second
one is refused with a one-line error (exit 1).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from charlee_collector_tools.cli.common import (
    BadInput,
    CliError,
    NotFound,
    SqsEndpointUrl,
    SuggestingGroup,
    check_url,
    clip,
    err,
    limit_option,
    out,
    print_json,
    sqs_client,
    table,
    warning_line,
    when,
)
from charlee_collector_tools.cli.dead_letters import (
    RedriveInterrupted,
    delete_by_id,
    depth,
    dlq_of,
    peek,
    redrive,
)

__all__ = ["app", "depth", "dlq_of"]

app = typer.Typer(
    cls=SuggestingGroup,
    help="Inspect the dead-letter queue, clean it, and move its messages back.",
    no_args_is_help=True,
)

DlqUrl = Annotated[
    str | None,
    typer.Option(
        "--dlq-url",
        callback=check_url,
        envvar="COLLECT_DLQ_URL",
        help="The dead-letter queue (default: the collect queue's RedrivePolicy target).",
    ),
]
QueueUrl = Annotated[
    str | None,
    typer.Option(
        "--queue-url",
        callback=check_url,
        envvar="COLLECT_QUEUE_URL",
        help="The collect queue (default: the DLQ's only source queue).",
    ),
]


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


# --- commands ----------------------------------------------------------------------------------


def _sent_at(message: dict[str, Any]) -> datetime | None:
    raw = message.get("Attributes", {}).get("SentTimestamp")
    return datetime.fromtimestamp(int(raw) / 1000, UTC) if raw else None


@app.command("list")
def list_(
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
    limit: Annotated[int, limit_option("Show at most this many messages.")] = 100,
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


@app.command("delete")
def delete_command(
    message_ids: Annotated[
        list[str], typer.Argument(help="The message ids `dlq list` shows (the Message column).")
    ],
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
) -> None:
    """Delete messages from the dead-letter queue by id (an unreadable body, a platform gone)."""
    sqs = sqs_client(dlq_url or queue_url, endpoint_url)
    url = resolve_dlq(sqs, dlq_url, queue_url)
    with err.status("looking for the message(s)"):
        result = delete_by_id(sqs, url, message_ids)
    for message_id in result.deleted:
        out.print(f"deleted {message_id}")
    if result.not_deleted:
        raise CliError(
            "SQS did not delete "
            + ", ".join(f"{mid} ({code})" for mid, code in result.not_deleted.items())
            + "; still in the dead-letter queue"
        )
    missing = [m for m in dict.fromkeys(message_ids) if m not in result.deleted]
    if missing:
        raise NotFound(f"not in the dead-letter queue (or in flight elsewhere): {', '.join(missing)}")


@app.command("purge")
def purge_command(
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete every message in the dead-letter queue (SQS PurgeQueue).

    Asks first on a terminal; without a terminal (a script, a pipe) it needs --yes.
    """
    sqs = sqs_client(dlq_url or queue_url, endpoint_url)
    url = resolve_dlq(sqs, dlq_url, queue_url)
    total = sum(depth(sqs, url).values())
    if not yes:
        if not sys.stdin.isatty():
            raise BadInput("purge deletes every message in the dead-letter queue: confirm with --yes")
        if not typer.confirm(f"delete all ~{total} message(s) in {url}?", default=False, err=True):
            raise CliError("nothing purged")
    from botocore.exceptions import ClientError

    try:
        sqs.purge_queue(QueueUrl=url)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "").endswith("PurgeQueueInProgress"):
            raise CliError(f"{url} was purged less than 60 s ago; SQS allows one purge a minute") from None
        raise
    out.print(f"purged {url}: ~{total} message(s) deleted")


@app.command("redrive")
def redrive_command(
    dlq_url: DlqUrl = None,
    queue_url: QueueUrl = None,
    endpoint_url: SqsEndpointUrl = None,
    limit: Annotated[int | None, limit_option("Move at most this many messages.")] = None,
    visibility_timeout: Annotated[
        int,
        typer.Option(
            "--visibility-timeout",
            help="Seconds a received message stays hidden in the DLQ while it is being moved.",
            min=1,
            max=43_200,  # SQS's own maximum
        ),
    ] = 60,
) -> None:
    """Move messages from the dead-letter queue back to the collect queue.

    Each batch is sent to the collect queue before it is deleted from the DLQ, so an
    interruption can leave a duplicate but never loses a message. Bodies that are not a valid
    collect message stay in the DLQ and are listed (delete them with `dlq delete`).
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
    if result.unreadable:
        out.print(
            f"left {len(result.unreadable)} unreadable message(s) in the DLQ "
            "(they would only fail again; `charlee-collector dlq delete ID` removes one):"
        )
        for message_id, reason in result.unreadable.items():
            out.print(f"  {message_id}: {clip(reason, 160)}")
    if result.not_deleted:
        err.print(
            warning_line(
                f"{len(result.not_deleted)} moved message(s) could not be deleted from the "
                "DLQ and will reappear there (duplicates): " + ", ".join(result.not_deleted)
            )
        )
    if result.not_sent:
        raise CliError(f"{len(result.not_sent)} message(s) could not be sent and stay in the DLQ")
