"""Collect one platform for one message: load it, fetch, upsert, record the run.

This is the one place that decides where each failure goes (DESIGN section 5):

| failure                                         | here                                  |
|-------------------------------------------------|---------------------------------------|
| platform unknown or deleted                     | acknowledged; warning + metric        |
| inactive / paused and not forced                | acknowledged; run ``skipped``         |
| TransientSourceError (network, timeout, 5xx)    | run ``failed`` recorded, then raised: |
|                                                 | SQS redelivers, DLQ after the limit;  |
|                                                 | counted once per message, not per     |
|                                                 | receive (backoff and pause)           |
| database unavailable (sqlalchemy DBAPIError)    | raised: SQS redelivers                |
| RateLimited                                     | acknowledged; run ``rate_limited``    |
| PermanentSourceError (4xx, payload, config)     | acknowledged; run ``failed``          |
| items the database refuses (a value it cannot   | upsert rolled back; acknowledged; run |
| hold, a constraint)                             | ``failed`` recorded on its own        |

The upsert and the run record share one transaction, so a platform is never half-written. When
the database refuses the items, writing them again cannot help: the attempt is recorded as a
failed run in a transaction of its own, and only a failure of that is retried by SQS. Stored
error text is cleaned by ``storage.finish_run``, so recording a run never fails on it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Engine

from charlee_collector import sources
from charlee_collector.errors import (
    InvalidMessage,
    PermanentSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from charlee_collector.messages import CollectMessage, parse_collect_message
from charlee_collector.models import utcnow
from charlee_collector.observability import OUTCOME_METRIC, Metric, logger, metrics
from charlee_collector.opportunity import Opportunity
from charlee_collector.platform_secrets import read_platform_secret
from charlee_collector.runtime import Runtime
from charlee_collector.settings import Settings
from charlee_collector.storage import (
    PlatformAfterRun,
    PlatformRecord,
    RunRecord,
    database_reason,
    finish_run,
    load_platform,
    lock_platform,
    refused_by_database,
    stored_error,
    upsert_opportunities,
)


@dataclass(frozen=True)
class CollectResult:
    """What happened to one platform (``outcome`` is a collection_runs outcome, or ``unknown``)."""

    platform_id: int
    outcome: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    http_status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    paused: bool = False


def collect_message(
    runtime: Runtime, body: str, *, message_id: str | None = None, attempt: int = 1
) -> CollectResult:
    """Validate one SQS body and collect its platform; InvalidMessage leaves the record failed (-> DLQ)."""
    try:
        message = parse_collect_message(body)
    except InvalidMessage as exc:
        # The body is kept in the queue as it is: the DLQ holds it for a person to read.
        logger.error("invalid collect message", extra={"error": str(exc)})
        metrics.add_metric(name=Metric.INVALID_MESSAGES, unit="Count", value=1)
        raise
    logger.thread_safe_append_keys(platform_id=message.platform_id, trigger=message.trigger)
    if message.unknown_fields:
        logger.warning(
            "collect message has unknown fields; ignored", extra={"fields": message.unknown_fields}
        )
    return collect_platform(
        runtime.engine, runtime.http, message, runtime.settings, message_id=message_id, attempt=attempt
    )


def collect_platform(
    engine: Engine,
    client: httpx.Client,
    message: CollectMessage,
    settings: Settings,
    *,
    message_id: str | None = None,
    attempt: int = 1,
    clock: Callable[[], datetime] = utcnow,
    secret_reader: Callable[[str], dict[str, str]] = read_platform_secret,
) -> CollectResult:
    """Run one collection; raises only for failures SQS should retry (transient, database)."""
    started_at, started = clock(), time.monotonic()
    with engine.connect() as conn:
        platform = load_platform(conn, message.platform_id)
    if platform is None:
        logger.warning("platform unknown or deleted; message acknowledged")
        metrics.add_metric(name=Metric.UNKNOWN_PLATFORMS, unit="Count", value=1)
        return CollectResult(message.platform_id, "unknown", error="platform unknown or deleted")

    def finish(outcome: str, items: list[Opportunity] | None = None, **fields: Any) -> CollectResult:
        run = RunRecord(
            platform_id=platform.id,
            trigger=message.trigger,
            message_id=message_id,
            outcome=outcome,
            started_at=started_at,
            finished_at=clock(),
            attempt=attempt,
            **fields,
        )
        try:
            run, after = _record(engine, platform, run, items, settings)
        except Exception as exc:
            if items is None or not refused_by_database(exc):
                raise  # the database is unavailable (or a bug): SQS redelivers
            reason = f"the database refused the items: {database_reason(exc)}"
            logger.warning("items refused by the database; message acknowledged", extra={"error": reason})
            run = replace(run, outcome="failed", error=reason)
            run, after = _record(engine, platform, run, None, settings)
        result = CollectResult(
            platform.id,
            run.outcome,
            fetched=run.fetched,
            inserted=run.inserted,
            updated=run.updated,
            http_status=run.http_status,
            error=stored_error(run.error),
            duration_ms=int((time.monotonic() - started) * 1000),
            paused=after.paused,
        )
        _emit(result, newly_paused=after.newly_paused)
        return result

    skip_reason = _skip_reason(platform, message)
    if skip_reason:
        logger.info("collection skipped", extra={"reason": skip_reason})
        return finish("skipped", error=skip_reason)
    try:
        secrets = secret_reader(platform.credentials_secret) if platform.credentials_secret else None
        fetched = sources.fetch_platform(
            platform.source,
            platform.config,
            client,
            settings,
            etag=platform.etag,
            last_modified=platform.last_modified,
            secrets=secrets,
        )
    except RateLimited as exc:
        logger.warning(
            "rate limited", extra={"retry_at": exc.retry_at.isoformat(), "http_status": exc.http_status}
        )
        return finish("rate_limited", http_status=exc.http_status, retry_at=exc.retry_at, error=str(exc))
    except TransientSourceError as exc:
        logger.warning("transient source failure; SQS will redeliver", extra={"error": str(exc)})
        finish("failed", http_status=exc.http_status, error=str(exc))
        metrics.add_metric(name=Metric.COLLECTION_RETRIED, unit="Count", value=1)
        raise
    except PermanentSourceError as exc:
        logger.warning("permanent source failure; message acknowledged", extra={"error": str(exc)})
        return finish("failed", http_status=exc.http_status, error=str(exc))
    except SourceError as exc:  # the hierarchy's root: treat an unclassified source error as permanent
        return finish("failed", http_status=exc.http_status, error=str(exc))

    if fetched.outcome == "not_modified":
        return finish("not_modified", http_status=fetched.http_status)
    return finish(
        "success",
        fetched.items,
        http_status=fetched.http_status,
        fetched=len(fetched.items),
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def _record(
    engine: Engine,
    platform: PlatformRecord,
    run: RunRecord,
    items: list[Opportunity] | None,
    settings: Settings,
) -> tuple[RunRecord, PlatformAfterRun]:
    """Upsert the items (when there are any) and record the run, in one transaction."""
    with engine.begin() as conn:
        # The row is locked (and read) once, first, for both writers below.
        locked = lock_platform(conn, platform.id)
        if items is not None:
            counts = upsert_opportunities(
                conn,
                platform_id=platform.id,
                user_id=platform.user_id,
                items=items,
                now=run.finished_at,
                platform_locked=True,
            )
            run = replace(run, inserted=counts.inserted, updated=counts.updated)
        return run, finish_run(conn, run, settings.scheduling, locked=locked)


def _skip_reason(platform: PlatformRecord, message: CollectMessage) -> str | None:
    if message.force:
        return None
    if not platform.active:
        return "platform inactive"
    if platform.paused_at is not None:
        return f"platform paused: {platform.last_error or 'no reason recorded'}"
    if message.trigger == "schedule" and not platform.auto_collect:
        return "automatic collection is off"
    return None


def _emit(result: CollectResult, *, newly_paused: bool) -> None:
    metric = OUTCOME_METRIC.get(result.outcome)
    if metric is not None:
        metrics.add_metric(name=metric, unit="Count", value=1)
    metrics.add_metric(name=Metric.OPPORTUNITIES_FETCHED, unit="Count", value=result.fetched)
    metrics.add_metric(name=Metric.OPPORTUNITIES_INSERTED, unit="Count", value=result.inserted)
    metrics.add_metric(name=Metric.OPPORTUNITIES_UPDATED, unit="Count", value=result.updated)
    metrics.add_metric(name=Metric.COLLECTION_DURATION, unit="Milliseconds", value=result.duration_ms)
    if newly_paused:
        metrics.add_metric(name=Metric.PLATFORMS_PAUSED, unit="Count", value=1)
    logger.info(
        "collection finished",
        extra={k: v for k, v in result.__dict__.items() if v is not None},
    )
