"""``collect --wait``: follow the runs that on-demand collect messages produce.

The collector records an attempt as one ``collection_runs`` row when it ends, with the SQS message
id it worked (no row while it runs): waiting reads that table for the ids ``send_on_demand`` got
back until each has a row or the time is up (by default the queue's visibility timeout, when a
retry would come). The first attempt's row is the answer. A run that ``failed`` is printed with its
error (exit 1); a message with no run by the timeout is left in the queue, untouched, and named
(exit 1); a platform deleted before its message was taken gets no run: it ends as a timeout too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import typer
from sqlalchemy import Engine, select

from charlee_collector.core.clock import utcnow
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.cli.common import CliError, err, out, platform_names, print_json, results_table
from charlee_collector_tools.local.runner import PlatformOutcome

DEFAULT_TIMEOUT_SECONDS = 720  # the template's CollectQueue VisibilityTimeout, when the queue's is unreadable
POLL_SECONDS = 0.5  # one indexed query per platform batch: cheap next to a collection
# Runs are stamped by the collector's clock, which may differ from this machine's.
CLOCK_SLACK = timedelta(hours=1)


def queue_visibility_timeout(sqs: Any, queue_url: str) -> int:
    """The queue's VisibilityTimeout: by then a received message was collected or is back."""
    from botocore.exceptions import ClientError

    try:
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])
    except ClientError:  # a sender may be allowed SendMessage only: the message is sent, wait anyway
        return DEFAULT_TIMEOUT_SECONDS
    return int(attributes["Attributes"].get("VisibilityTimeout", DEFAULT_TIMEOUT_SECONDS))


@dataclass
class WaitResult:
    """The runs that ended (by message id), and the messages still without one."""

    finished: dict[str, PlatformOutcome] = field(default_factory=dict)
    waiting: list[Mapping[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def first_runs(
    engine: Engine, sent: Sequence[Mapping[str, Any]], since: datetime
) -> dict[str, PlatformOutcome]:
    """The first finished run of each sent message (``platform_id``, ``message_id``), by message id."""
    by_message = {item["message_id"]: item["platform_id"] for item in sent}
    query = (
        select(runs, platforms.c.name)
        .join(platforms, platforms.c.id == runs.c.platform_id)
        .where(
            runs.c.platform_id.in_(set(by_message.values())),
            runs.c.started_at >= since - CLOCK_SLACK,
            runs.c.message_id.in_(list(by_message)),
        )
        .order_by(runs.c.id)
    )
    found: dict[str, PlatformOutcome] = {}
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            found.setdefault(
                row["message_id"],
                PlatformOutcome(
                    platform_id=row["platform_id"],
                    name=row["name"],
                    outcome=row["outcome"],
                    attempts=1,
                    fetched=row["fetched"],
                    inserted=row["inserted"],
                    updated=row["updated"],
                    duration_ms=row["duration_ms"],
                    error=row["error"],
                ),
            )
    return found


def wait_for_runs(
    engine: Engine,
    sent: Sequence[Mapping[str, Any]],
    *,
    timeout_seconds: float,
    since: datetime | None = None,
    on_poll: Callable[[WaitResult], None] = lambda _result: None,
) -> WaitResult:
    """Poll the database until every sent message has a finished run, or the timeout passes."""
    since = since or utcnow()
    started = time.monotonic()
    result = WaitResult(waiting=list(sent))
    while True:
        result.finished = first_runs(engine, sent, since)
        result.waiting = [item for item in sent if item["message_id"] not in result.finished]
        result.seconds = time.monotonic() - started
        on_poll(result)
        if not result.waiting or result.seconds >= timeout_seconds:
            return result
        time.sleep(min(POLL_SECONDS, max(timeout_seconds - result.seconds, 0)))


def follow(
    engine: Engine,
    sent: Sequence[Mapping[str, Any]],
    *,
    timeout_seconds: int,
    since: datetime,
    as_json: bool,
) -> None:
    """Wait for the sent messages' runs and print them; exit 1 on a failure or a timeout.

    A spinner on a terminal; anywhere else nothing moves until the result is printed (the
    "queued" lines before it say what is awaited), so a log file gets plain lines only.
    """

    def describe(result: WaitResult) -> str:
        return (
            f"waiting for {len(result.waiting)} of {len(sent)} run(s): "
            f"{result.seconds:.0f}s of {timeout_seconds}s"
        )

    spinner = out.is_terminal and err.is_terminal
    display = err.status(describe(WaitResult(waiting=list(sent)))) if spinner else contextlib.nullcontext()
    with display as status:
        result = wait_for_runs(
            engine,
            sent,
            timeout_seconds=timeout_seconds,
            since=since,
            on_poll=(lambda r: status.update(describe(r))) if status is not None else (lambda _r: None),
        )
    names = platform_names(engine, [item["platform_id"] for item in result.waiting])
    rows = [
        result.finished.get(item["message_id"])
        or PlatformOutcome(
            item["platform_id"],
            names.get(item["platform_id"], "?"),
            "timed_out",
            attempts=0,
            error=f"no run finished within {timeout_seconds}s; the message is still queued",
        )
        for item in sent
    ]
    if as_json:
        print_json(
            [
                {"message_id": item["message_id"], **row.as_dict()}
                for item, row in zip(sent, rows, strict=True)
            ]
        )
    else:
        out.print(results_table("Collected through the queue", rows))
    if result.waiting:
        raise CliError(
            f"timed out after {timeout_seconds}s: {len(result.waiting)} of {len(sent)} message(s) have no "
            "finished run yet and are still in the queue (or being collected): "
            + ", ".join(item["message_id"] for item in result.waiting)
        )
    if any(row.outcome in ("failed", "unknown") for row in rows):
        raise typer.Exit(1)
