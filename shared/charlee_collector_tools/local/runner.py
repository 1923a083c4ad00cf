"""The embedded local run: the whole pipeline on one machine, with no AWS account.

``LocalRunner``'s tick is what AWS does every schedule period, without Lambda's time limit: the
dispatcher handler is called until nothing more is claimed, its collect messages go to the
in-process queue, and the poller feeds them to the collector handler until drained, retries
included; then the notifier handler gets the schedule's event (the digests that are due) and the
events the tick published, in one batch (as the stack's minute of batching: a burst is one
message), what it refused kept for the next tick;
``tick_report`` then sums this run's ``collection_runs`` per platform (``local poll`` too).
Dead-lettered messages are reported and the DLQ emptied. A tick stopped by its time limit counts
what it left (due platforms never sent, messages still queued): ``TickReport.uncollected``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ColumnElement, Engine, and_, func, select

from charlee_collector.core.clock import utcnow
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.local.handlers import (
    Handlers,
    LocalLambdaContext,
    load_handlers,
    scheduled_event,
)
from charlee_collector_tools.local.poller import DeadLetter, Poller, PollStats, sqs_event
from charlee_collector_tools.local.sqs import LocalSqs, pending

# Lambda's longest timeout: what one dispatcher call may spend claiming before the tick calls it
# again (the dispatcher stops its own time margin before the end).
DISPATCH_CONTEXT_SECONDS = 900
# What the notifier's records say they came from (the stack's NotificationsQueue, here in-process).
NOTIFICATIONS_ARN = "arn:aws:sqs:us-east-1:123456789012:notifications"
# Collector invocations at once; each runs COLLECTOR_CONCURRENCY records of its batch at once.
BATCHES_IN_FLIGHT = 4
SUMMARY_CHUNK = 500  # message ids per query: databases cap the parameters of one statement
# The outcome of a message naming no platform: acknowledged by the collector, no run recorded.
UNKNOWN = "unknown"
# How fetching/client.py ends a TransientSourceError's message: true while SQS retries it, not once the
# message is dead-lettered (the summary drops it there).
RETRY_HINT = re.compile(r"[;,.]?\s*the collection will be retried\b")

# What the handlers see on this machine; they read the environment as they do in Lambda.
LOCAL_ENVIRONMENT = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "POWERTOOLS_TRACE_DISABLED": "true",
}
LOCAL_DEFAULTS = {  # the user's own values win
    "POWERTOOLS_METRICS_NAMESPACE": "CharleeCollector",
    "POWERTOOLS_SERVICE_NAME": "charlee-collector",
    "POWERTOOLS_METRICS_DISABLED": "true",  # EMF lines are for CloudWatch, noise in a terminal
}
REMOVED = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "DB_SECRET_ARN")


@contextmanager
def local_environment(overrides: Mapping[str, str], *, mocked_aws: bool = True) -> Iterator[None]:
    """Set the handlers' environment for the block, and put the previous one back after.

    ``mocked_aws``: dummy credentials and no endpoint overrides, for the in-process mock; without
    it (``local poll`` on a real queue) the user's AWS settings stay as they are.
    """
    from charlee_collector.app import runtime

    saved = dict(os.environ)
    try:
        if mocked_aws:
            for name in REMOVED:
                os.environ.pop(name, None)
            os.environ.update(LOCAL_ENVIRONMENT)
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
        for name, value in LOCAL_DEFAULTS.items():
            os.environ.setdefault(name, value)
        os.environ.update(overrides)
        runtime.reset()
        yield
    finally:
        runtime.reset()
        os.environ.clear()
        os.environ.update(saved)


def quiet_logs(level: str) -> None:
    """Handler logs (Powertools JSON and the library loggers) to stderr, at ``level``."""
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level.upper())
    from charlee_collector.observability.logger import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    logger.setLevel(level.upper())
    # The service logger writes its own JSON line; Powertools keeps it from reaching the root
    # handlers that existed when it was built, not the one basicConfig just added: without this,
    # every handler line came twice (once as JSON, once as "LEVEL name: message").
    logging.getLogger(logger.name).propagate = False


@dataclass(frozen=True)
class PlatformOutcome:
    """One platform's part in a local run (its attempts summed up)."""

    platform_id: int
    name: str
    outcome: str
    attempts: int = 0
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    duration_ms: int = 0
    error: str | None = None
    filtered: int = 0  # of ``fetched``, dropped by the platform's filters

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PoisonMessage:
    """A dead-lettered message that names no platform: its body is not a valid collect message."""

    message_id: str
    problem: str


@dataclass
class TickReport:
    """What one tick (or one ``local poll``) did."""

    dispatch: dict[str, Any]
    platforms: list[PlatformOutcome] = field(default_factory=list)
    dead_lettered: list[DeadLetter] = field(default_factory=list)
    poison: list[PoisonMessage] = field(default_factory=list)
    messages: int = 0  # distinct messages the poller received
    handler_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    next_due: datetime | None = None
    uncollected: int = 0  # platforms this tick should have collected and did not reach

    @property
    def finished(self) -> bool:
        return self.uncollected == 0

    @property
    def failed(self) -> bool:
        return bool(self.dead_lettered or self.handler_errors) or any(
            p.outcome not in ("success", "not_modified", "rate_limited", "deferred", "skipped", UNKNOWN)
            for p in self.platforms
        )


class LocalRunner:
    """Dispatcher + queue + poller + collector, on one machine."""

    def __init__(
        self,
        engine: Engine,
        sqs: LocalSqs,
        *,
        handlers: Handlers | None = None,
        on_progress: Callable[[str], None] = lambda _text: None,
        handler_stdout: TextIO | None = None,
        batches_in_flight: int = BATCHES_IN_FLIGHT,
    ) -> None:
        self.engine = engine
        self.handler_stdout = handler_stdout
        self.sqs = sqs
        self.handlers = handlers or load_handlers()
        self.on_progress = on_progress
        self.batches_in_flight = batches_in_flight

    def tick(self, *, force: bool = False, time_limit_seconds: float | None = None) -> TickReport:
        """Dispatch (what is due, or every active platform when ``force``), then drain.

        ``time_limit_seconds``: past it no more platforms are claimed and no new batch starts;
        what was left is counted in the report's ``uncollected``.
        """
        started, started_at = time.monotonic(), utcnow()
        deadline = started + time_limit_seconds if time_limit_seconds is not None else float("inf")
        serve_handlers_from(self.sqs)
        if force:
            ids = self._active_ids()
            if not ids:
                return TickReport(dispatch={"due": 0, "dispatched": 0, "failed": 0})
            summary = self._dispatch({"platform_ids": ids}, deadline)
        else:
            summary = self._dispatch_everything_due(deadline)
        queues = self.sqs.queues

        def progress(stats: PollStats) -> None:
            self.on_progress(
                f"collecting: {stats.succeeded} done, {stats.failed} to retry (of {summary.get('dispatched', 0)})"
            )

        poller = Poller(
            self.sqs.client,
            queues.queue_url,
            queues.queue_arn,
            self.handlers.collector,
            on_batch=progress,
            handler_stdout=self.handler_stdout,
            batches_in_flight=self.batches_in_flight,
        )
        self.on_progress("collecting")
        stats = poller.drain(timeout_seconds=max(deadline - time.monotonic(), 0))
        self._notify()
        left_in_queue = self._empty_queue()
        dead = self._empty_dlq()
        # Forced, every active platform was asked for: those the dispatcher could not send are left.
        undispatched = summary.get("failed", 0) if force else self._due_count(started_at)
        report = tick_report(
            self.engine,
            stats,
            dead,
            dispatch=summary,
            seconds=time.monotonic() - started,
            uncollected=left_in_queue + undispatched,
        )
        report.next_due = self._next_due()
        return report

    def _notify(self) -> None:
        """The tick's events through the notifier handler, as NotificationsQueue feeds it."""
        from charlee_collector.app.runtime import get_runtime
        from charlee_collector_tools.local.event_bus import LocalEventBus

        bus = get_runtime().event_bus
        if self.handlers.notifier is None or bus is None or not isinstance(bus.client, LocalEventBus):
            return
        self.on_progress("alerting")
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            # The digests that are due, as the notifier's schedule asks in AWS.
            self.handlers.notifier(scheduled_event(), LocalLambdaContext("NotifierFunction"))
        notifications = bus.client.take_notifications()
        if not notifications:
            return
        messages = [{"MessageId": m, "ReceiptHandle": m, "Body": body} for m, body in notifications]
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            answer = self.handlers.notifier(
                sqs_event(messages, NOTIFICATIONS_ARN), LocalLambdaContext("NotifierFunction")
            )
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        bus.client.requeue([n for n in notifications if n[0] in failed])

    def _dispatch(self, event: dict[str, Any], deadline: float) -> dict[str, Any]:
        self.on_progress("dispatching")
        # The dispatcher claims while more than its margin is left: give it the tick's time left
        # plus that margin, so it stops at the tick's deadline, or after Lambda's longest timeout.
        from charlee_collector.app.runtime import get_runtime

        margin = get_runtime().settings.time_margin_ms / 1000
        seconds = min(deadline - time.monotonic(), DISPATCH_CONTEXT_SECONDS) + margin
        context = LocalLambdaContext("DispatcherFunction", timeout_seconds=max(int(seconds), 0))
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            return self.handlers.dispatcher(event, context)

    def _dispatch_everything_due(self, deadline: float) -> dict[str, Any]:
        """Scheduled events until one claims nothing (a call stops at its own time limit)."""
        total = {"due": 0, "dispatched": 0, "failed": 0}
        while time.monotonic() < deadline:
            summary = self._dispatch(scheduled_event(), deadline)
            for key in total:
                total[key] += int(summary.get(key, 0))
            # Unsent claims are released and due at once: calling again would spin on them.
            if not summary.get("dispatched") or summary.get("failed"):
                break
        return total

    def _active_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(platforms.c.id).where(platforms.c.active.is_(True)).order_by(platforms.c.id)
                ).scalars()
            )

    def _due_count(self, at: datetime) -> int:
        """Platforms that were due at ``at`` and still are (never claimed, or released)."""
        next_at = platforms.c.next_collection_at
        with self.engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(platforms)
                    .where(_scheduled(), next_at.is_(None) | (next_at <= at))
                ).scalar_one()
            )

    def _next_due(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(select(func.min(platforms.c.next_collection_at)).where(_scheduled())).scalar()

    def _empty_queue(self) -> int:
        """How many messages the drain left (its time limit); the queue ends with the command."""
        left = pending(self.sqs.client, self.sqs.queues.queue_url)
        if left:
            self.sqs.client.purge_queue(QueueUrl=self.sqs.queues.queue_url)
        return left

    def _empty_dlq(self) -> list[DeadLetter]:
        """The messages that used up their receives (deleted from the local DLQ)."""
        client, url = self.sqs.client, self.sqs.queues.dlq_url
        dead: list[DeadLetter] = []
        while True:
            batch = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return dead
            dead.extend(DeadLetter(m["MessageId"], m["Body"]) for m in batch)
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )


def serve_handlers_from(sqs: LocalSqs) -> None:
    """Point the handlers' SQS client at the in-process queue, and their events at the local bus.

    The handlers take their client from the process runtime (``boto3.client("sqs")`` in Lambda);
    set here, on the runtime they will use, so the dispatcher sends to the local queue.
    """
    from charlee_collector.app.runtime import get_runtime
    from charlee_collector_tools.local.event_bus import LocalEventBus, local_event_bus

    runtime = get_runtime()
    runtime.sqs = sqs.client
    # Events go to the local bus (and its webhook): one per runtime, which local_environment resets.
    current = runtime.__dict__.get("event_bus")
    if current is None or not isinstance(current.client, LocalEventBus):
        runtime.event_bus = local_event_bus(runtime.settings)


def _scheduled() -> ColumnElement[bool]:
    """Platforms the schedule collects (docs/architecture.md, Scheduling), due or not."""
    return and_(
        platforms.c.active.is_(True), platforms.c.auto_collect.is_(True), platforms.c.paused_at.is_(None)
    )


def tick_report(engine: Engine, stats: PollStats, dead: Sequence[DeadLetter], **fields: Any) -> TickReport:
    """The summary of what the poller delivered: runs per platform, and what went to the DLQ."""
    from charlee_collector.app.messages import parse_collect_message  # pydantic: only when needed
    from charlee_collector.core.errors import InvalidMessage

    dead_platforms: list[int] = []
    poison: list[PoisonMessage] = []
    for letter in dead:
        try:
            dead_platforms.append(parse_collect_message(letter.body).platform_id)
        except InvalidMessage as exc:
            poison.append(PoisonMessage(letter.message_id, str(exc)))
    return TickReport(
        platforms=summarize(engine, stats.message_ids, dead_platforms, acknowledged=stats.acknowledged),
        dead_lettered=list(dead),
        poison=poison,
        messages=stats.messages,
        handler_errors=stats.handler_errors,
        **fields,
    )


def summarize(
    engine: Engine,
    message_ids: set[str],
    dead: Sequence[int] = (),
    *,
    acknowledged: Mapping[str, str] | None = None,
) -> list[PlatformOutcome]:
    """This tick's runs (found by the message ids the poller delivered), per platform.

    ``dead``: the platforms whose message was dead-lettered; their last error is final, so it
    loses the "will be retried" of a transient failure. ``acknowledged``: the bodies of the
    messages the handler took, by id; one that left no run named no platform (the collector
    acknowledges it and records nothing), and gets a row of its own, outcome ``unknown``.
    """
    rows: list[Any] = []
    ids = sorted(message_ids)
    with engine.connect() as conn:
        for start in range(0, len(ids), SUMMARY_CHUNK):
            rows.extend(
                conn.execute(
                    select(runs, platforms.c.name)
                    .join(platforms, platforms.c.id == runs.c.platform_id)
                    .where(runs.c.message_id.in_(ids[start : start + SUMMARY_CHUNK]))
                ).mappings()
            )
    rows.sort(key=lambda row: row["id"])
    by_platform: dict[int, list[Any]] = {}
    for row in rows:
        by_platform.setdefault(row["platform_id"], []).append(row)
    dead_ids = set(dead)
    outcomes = []
    for platform_id, attempts in by_platform.items():
        last = attempts[-1]
        error = last["error"]
        if platform_id in dead_ids:
            reason = RETRY_HINT.sub("", error or "") or "failed"
            error = f"gave up after {len(attempts)} attempts (message dead-lettered): {reason}"
        outcomes.append(
            PlatformOutcome(
                platform_id=platform_id,
                name=last["name"],
                outcome=last["outcome"],
                attempts=len(attempts),
                fetched=last["fetched"],
                filtered=last["filtered"],
                inserted=sum(a["inserted"] for a in attempts),
                updated=sum(a["updated"] for a in attempts),
                duration_ms=sum(a["duration_ms"] for a in attempts),
                error=error,
            )
        )
    for platform_id in sorted(dead_ids - set(by_platform)):
        outcomes.append(
            PlatformOutcome(platform_id, "?", "failed", error="no run recorded; message dead-lettered")
        )
    outcomes.extend(_without_a_run(acknowledged or {}, {row["message_id"] for row in rows}))
    return sorted(outcomes, key=lambda o: o.platform_id)


def _without_a_run(acknowledged: Mapping[str, str], ran: set[str]) -> list[PlatformOutcome]:
    """A row for each acknowledged message that left no run: its platform does not exist."""
    from charlee_collector.app.messages import parse_collect_message
    from charlee_collector.core.errors import InvalidMessage

    outcomes = []
    for message_id, body in acknowledged.items():
        if message_id in ran:
            continue
        try:
            platform_id = parse_collect_message(body).platform_id
        except InvalidMessage:  # the collector fails such a message: it is never acknowledged
            continue
        outcomes.append(
            PlatformOutcome(
                platform_id,
                "?",
                UNKNOWN,
                error=f"no platform {platform_id} (unknown or deleted): message acknowledged, nothing collected",
            )
        )
    return outcomes
