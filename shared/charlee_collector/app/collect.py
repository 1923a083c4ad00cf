"""Collect one platform for one message: load it, fetch through its source, upsert (each item
scored against its owner's profile, new ones linked to the job they repeat), record the run.

This is the one place that decides where each failure goes; the table of outcomes is in
docs/faults.md. The upsert, the run record and the run's event (``publishing``: written when the
items changed anything, published after the commit, never failing the collection) share one
transaction, so a platform is never half-written and no change goes without its event. Items the
database refuses are recorded as a failed run in a transaction of its own; only a failure of
that is retried by SQS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import Connection, Engine

from charlee_collector import sources
from charlee_collector.app.collected_event import RunFacts, build_event
from charlee_collector.app.cpu_turns import cpu_turn
from charlee_collector.app.messages import CollectMessage, parse_collect_message
from charlee_collector.app.oauth_tokens import PlatformTokens, SecretsManagerTokens, TokenSecrets
from charlee_collector.app.platform_secrets import read_platform_secret
from charlee_collector.app.publishing import EventBus, enqueue, publish_written
from charlee_collector.app.runtime import Runtime
from charlee_collector.app.scoring import storage_annotations, stored_profile
from charlee_collector.core.clock import utcnow
from charlee_collector.core.credentials import refuse_outside_prefix
from charlee_collector.core.errors import (
    FetchDeferred,
    InvalidMessage,
    PermanentSourceError,
    RateLimited,
    SourceError,
    TransientSourceError,
)
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import Deadline, Fetcher
from charlee_collector.normalize.profiles import Profile
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import OUTCOME_METRIC, Metric, metrics
from charlee_collector.politeness.gate import PoliteFetches
from charlee_collector.store.duplicates import DuplicateLink, link_duplicates
from charlee_collector.store.engine import reading
from charlee_collector.store.opportunities import UpsertCounts, prepare_items, upsert_opportunities
from charlee_collector.store.platforms import PlatformRecord, load_platform_and_profile, lock_platform
from charlee_collector.store.runs import (
    PlatformAfterRun,
    RunRecord,
    database_reason,
    finish_run,
    refused_by_database,
    stored_error,
)


@dataclass(frozen=True)
class CollectResult:
    """What happened to one platform (``outcome`` is a collection_runs outcome, or ``unknown``)."""

    platform_id: int
    outcome: str
    fetched: int = 0  # before the platform's filters
    inserted: int = 0
    updated: int = 0
    filtered: int = 0  # of ``fetched``, dropped by the platform's filters
    http_status: int | None = None
    error: str | None = None
    duration_ms: int = 0
    paused: bool = False


def collect_message(
    runtime: Runtime,
    body: str,
    *,
    message_id: str | None = None,
    attempt: int = 1,
    deadline: Deadline | None = None,
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
        runtime.engine,
        runtime.http,
        message,
        runtime.settings,
        message_id=message_id,
        attempt=attempt,
        event_bus=runtime.event_bus,
        deadline=deadline,
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
    token_secrets: TokenSecrets | None = None,
    event_bus: EventBus | None = None,
    deadline: Deadline | None = None,
) -> CollectResult:
    """Run one collection; raises only for failures SQS should retry (transient, database).

    Every request of it passes one ``Fetcher``: ``client``, the politeness gate, and ``deadline``
    (the record's; a new one of ``COLLECTION_DEADLINE_SECONDS`` when none is given). A source whose
    secret holds OAuth2 tokens gets a fresh access token first (``oauth_tokens``: refreshed under a
    database lock, written back to ``token_secrets``, Secrets Manager by default).

    A collection that inserted or updated opportunities writes its event in the same
    transaction and publishes it to ``event_bus`` after the commit (app/publishing.py: never raises).
    """
    started_at, started = clock(), time.monotonic()
    with reading(engine) as conn:
        platform, profile_text = load_platform_and_profile(conn, message.platform_id)
    profile = stored_profile(profile_text)
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
            run, after, event_row = _record(engine, platform, run, items, settings, profile)
        except Exception as exc:
            if items is None or not refused_by_database(exc):
                raise  # the database is unavailable (or a bug): SQS redelivers
            reason = f"the database refused the items: {database_reason(exc)}"
            logger.warning("items refused by the database; message acknowledged", extra={"error": reason})
            run = replace(run, outcome="failed", error=reason)
            run, after, event_row = _record(engine, platform, run, None, settings, None)
        publish_written(engine, event_bus, event_row)
        result = CollectResult(
            platform.id,
            run.outcome,
            fetched=run.fetched,
            inserted=run.inserted,
            updated=run.updated,
            filtered=run.filtered,
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
    deadline = deadline or Deadline(settings.collection_deadline_seconds)
    gate: PoliteFetches | None = None  # the last fetch's (a renewed token fetches again)

    def fetch(secrets: Mapping[str, str] | None) -> tuple[sources.FetchResult, bool | None]:
        nonlocal gate
        gate = PoliteFetches(  # shared fetches and host limits: politeness/
            engine,
            settings,
            source=platform.source,
            credentials_secret=platform.credentials_secret,
            secrets=secrets,
            interval_minutes=platform.collection_interval_minutes,
            fresh=bool(message.force),  # on demand means now: never the stored response of an earlier fetch
            deadline=deadline,
        )
        fetched = sources.fetch_platform(
            platform.source,
            platform.config,
            Fetcher(client, settings, deadline=deadline, gate=gate),
            etag=platform.etag,
            last_modified=platform.last_modified,
            secrets=secrets,
            turn=cpu_turn,
        )
        return fetched, gate.shared

    try:
        if platform.credentials_secret:  # refused: a permanent failure of this collection
            refusal = refuse_outside_prefix(platform.credentials_secret, settings.platform_secret_prefix)
            if refusal:
                raise PermanentSourceError(refusal)
        secrets = secret_reader(platform.credentials_secret) if platform.credentials_secret else None
        if secrets is not None and platform.credentials_secret and sources.uses_oauth_tokens(platform.source):
            tokens = PlatformTokens(
                engine,
                Fetcher(client, settings, deadline=deadline),  # the token endpoint: no gate, no sharing
                token_secrets or SecretsManagerTokens(),
                platform.credentials_secret,
                clock=clock,
            )
            fetched, shared_fetch = tokens.collect(secrets, fetch)
        else:
            fetched, shared_fetch = fetch(secrets)
    except FetchDeferred as exc:
        logger.info("collection deferred", extra={"retry_at": exc.retry_at.isoformat(), "error": str(exc)})
        return finish("deferred", retry_at=exc.retry_at, error=str(exc))
    except RateLimited as exc:
        logger.warning(
            "rate limited", extra={"retry_at": exc.retry_at.isoformat(), "http_status": exc.http_status}
        )
        return finish("rate_limited", http_status=exc.http_status, retry_at=exc.retry_at, error=str(exc))
    except TransientSourceError as exc:
        logger.warning("transient source failure; SQS will redeliver", extra={"error": str(exc)})
        finish("failed", http_status=exc.http_status, error=str(exc), counts_failure=_counts(gate, exc))
        metrics.add_metric(name=Metric.COLLECTION_RETRIED, unit="Count", value=1)
        raise
    except SourceError as exc:  # permanent, or an unclassified source error (treated as permanent)
        if isinstance(exc, PermanentSourceError):
            logger.warning("permanent source failure; message acknowledged", extra={"error": str(exc)})
        counted = _counts(gate, exc)  # an unreadable body is not served again
        return finish("failed", http_status=exc.http_status, error=str(exc), counts_failure=counted)

    if fetched.outcome == "not_modified":
        return finish("not_modified", http_status=fetched.http_status, shared_fetch=shared_fetch)
    return finish(
        "success",
        fetched.items,
        shared_fetch=shared_fetch,
        http_status=fetched.http_status,
        fetched=len(fetched.items) + fetched.filtered_out,
        filtered=fetched.filtered_out,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
    )


def _record(
    engine: Engine,
    platform: PlatformRecord,
    run: RunRecord,
    items: list[Opportunity] | None,
    settings: Settings,
    profile: Profile | None,
) -> tuple[RunRecord, PlatformAfterRun, int | None]:
    """Upsert the items (when there are any; scored against ``profile``), link the new ones to the
    jobs they repeat, record the run and write its event (when the items changed anything), in
    one transaction; the outbox row's id, or None.

    In a turn at the CPU (``app/cpu_turns.py``), taken before the transaction begins; the rows,
    their hashes and JSON are made before it too, so the platform's lock is held for the
    statements only.
    """
    with cpu_turn():
        annotate = storage_annotations(profile, run.finished_at)
        prepared = prepare_items(items, annotate=annotate) if items is not None else None
        with engine.begin() as conn:
            counts = None
            links: dict[int, DuplicateLink] = {}
            # The row is locked (and read) once, first, for both writers below.
            locked = lock_platform(conn, platform.id)
            if prepared is not None and locked is not None:  # deleted meanwhile: nothing to store
                counts = upsert_opportunities(
                    conn,
                    platform_id=platform.id,
                    user_id=platform.user_id,
                    items=prepared,
                    now=run.finished_at,
                    platform_locked=True,
                )
                links = {link.id: link for link in link_duplicates(conn, counts.inserted_ids)}
                run = replace(run, inserted=counts.inserted, updated=counts.updated)
            after = finish_run(conn, run, settings.scheduling, locked=locked)
            event_row = _write_event(conn, platform, run, counts, after.run_id, links) if counts else None
            return run, after, event_row


def _write_event(
    conn: Connection,
    platform: PlatformRecord,
    run: RunRecord,
    counts: UpsertCounts,
    run_id: int | None,
    links: Mapping[int, DuplicateLink],
) -> int | None:
    """The OpportunitiesCollected event into the outbox; None when nothing changed."""
    if run_id is None:  # the platform was deleted meanwhile: no run, no event
        return None
    facts = RunFacts(
        run_id=run_id,
        user_id=platform.user_id,
        platform_id=platform.id,
        platform_name=platform.name,
        platform_source=platform.source,
        trigger=run.trigger,
        collected_at=run.finished_at,
        fetched=run.fetched,
    )
    event = build_event(facts, counts.written, duplicates=links)
    return enqueue(conn, event, now=run.finished_at) if event else None


def _counts(gate: PoliteFetches | None, exc: SourceError) -> bool:
    """Whether a failure counts toward backoff and pause: once per shared answer (the gate says)."""
    return gate.settle_failure(exc) if gate is not None else True


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
