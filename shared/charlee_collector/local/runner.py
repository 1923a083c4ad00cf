"""The embedded local run: the whole pipeline on one machine, with no AWS account.

One tick is what AWS does every schedule period: the dispatcher handler gets a scheduled event
and sends a collect message per due platform to the (in-process moto) queue; the poller feeds
the queue to the collector handler until it is drained, retries included; then this run's
``collection_runs`` are summed up per platform. Messages that used up their receives land in the
DLQ; the run reports them and empties it, as the local queue ends with the command anyway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import Engine, func, select

from charlee_collector.local.handlers import Handlers, LocalLambdaContext, load_handlers, scheduled_event
from charlee_collector.local.poller import Poller, PollStats
from charlee_collector.local.sqs import LocalSqs
from charlee_collector.models import platforms, runs

DRAIN_TIMEOUT_SECONDS = 900

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
    from charlee_collector import runtime

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
    from charlee_collector.observability import logger

    handler = logger.registered_handler
    if isinstance(handler, logging.StreamHandler):
        handler.setStream(sys.stderr)
    logger.setLevel(level.upper())


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

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TickReport:
    """What one tick did."""

    dispatch: dict[str, Any]
    platforms: list[PlatformOutcome] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    handler_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    next_due: datetime | None = None

    @property
    def failed(self) -> bool:
        return bool(self.dead_lettered or self.handler_errors) or any(
            p.outcome not in ("success", "not_modified", "rate_limited", "skipped") for p in self.platforms
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
    ) -> None:
        self.engine = engine
        self.handler_stdout = handler_stdout
        self.sqs = sqs
        self.handlers = handlers or load_handlers()
        self.on_progress = on_progress

    def tick(self, *, force: bool = False) -> TickReport:
        """Dispatch (the scheduled event, or every active platform when ``force``), then drain."""
        started = time.monotonic()
        event: dict[str, Any] = scheduled_event()
        if force:
            ids = self._active_ids()
            if not ids:
                return TickReport(dispatch={"due": 0, "dispatched": 0, "failed": 0})
            event = {"platform_ids": ids}
        self.on_progress("dispatching")
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            summary = self.handlers.dispatcher(
                event, LocalLambdaContext("DispatcherFunction", timeout_seconds=60)
            )
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
        )
        self.on_progress("collecting")
        stats = poller.drain(timeout_seconds=DRAIN_TIMEOUT_SECONDS)
        dead = self._empty_dlq()
        report = TickReport(
            dispatch=summary,
            platforms=summarize(self.engine, stats.message_ids, dead),
            dead_lettered=dead,
            handler_errors=stats.handler_errors,
            seconds=time.monotonic() - started,
        )
        report.next_due = self._next_due()
        return report

    def _active_ids(self) -> list[int]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(platforms.c.id).where(platforms.c.active.is_(True)).order_by(platforms.c.id)
                ).scalars()
            )

    def _next_due(self) -> datetime | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.min(platforms.c.next_collection_at)).where(
                    platforms.c.active.is_(True),
                    platforms.c.auto_collect.is_(True),
                    platforms.c.paused_at.is_(None),
                )
            ).scalar()

    def _empty_dlq(self) -> list[str]:
        """The bodies of the messages that used up their receives (deleted from the local DLQ)."""
        client, url = self.sqs.client, self.sqs.queues.dlq_url
        bodies: list[str] = []
        while True:
            batch = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return bodies
            bodies.extend(m["Body"] for m in batch)
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
            )


def summarize(engine: Engine, message_ids: set[str], dead: Sequence[str] = ()) -> list[PlatformOutcome]:
    """This tick's runs (found by the message ids the poller delivered), per platform."""
    rows: list[Any] = []
    if message_ids:
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    select(runs, platforms.c.name)
                    .join(platforms, platforms.c.id == runs.c.platform_id)
                    .where(runs.c.message_id.in_(sorted(message_ids)))
                    .order_by(runs.c.id)
                ).mappings()
            )
    by_platform: dict[int, list[Any]] = {}
    for row in rows:
        by_platform.setdefault(row["platform_id"], []).append(row)
    dead_ids = {pid for pid in (_platform_id(body) for body in dead) if pid is not None}
    outcomes = []
    for platform_id, attempts in by_platform.items():
        last = attempts[-1]
        error = last["error"]
        if platform_id in dead_ids:
            error = f"gave up after {len(attempts)} attempts (message dead-lettered): {error or 'failed'}"
        outcomes.append(
            PlatformOutcome(
                platform_id=platform_id,
                name=last["name"],
                outcome=last["outcome"],
                attempts=len(attempts),
                fetched=last["fetched"],
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
    return sorted(outcomes, key=lambda o: o.platform_id)


def _platform_id(body: str) -> int | None:
    try:
        value = json.loads(body).get("platform_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, int) else None
