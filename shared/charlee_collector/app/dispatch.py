"""Claim due platforms, send one collect message each, release what could not be sent.

``dispatch`` commits its claims before sending: a claim is a row lock plus a leased
``next_collection_at`` in one transaction, so two dispatchers never enqueue a platform twice. Once
the sends are answered, the sent platforms move on one interval and the unsent ones are released
(``settle_claims``); a claim never settled (a lost COMMIT reply, a dispatcher that died, a database
gone before the settling) expires with its lease (``CLAIM_LEASE``) and is due at the next tick. A scheduled tick overlaps
the next claim with the sends of the one before (at most two outstanding, one thread pool), checks
the time guard before each claim, and sends or releases every claim it took before it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from charlee_collector.app.messages import CollectMessage, DispatchRequest
from charlee_collector.core.clock import utcnow
from charlee_collector.core.settings import Settings
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import Metric, metrics
from charlee_collector.store.platforms import Claim, claim_due_platforms, claim_platforms, settle_claims

SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries
# SendMessageBatch calls in flight at once. SQS serves many in parallel and each call is mostly a
# network wait, so more threads pay off until the client's CPU is the bound (bench/dispatch.py);
# the SQS client's connection pool must be at least this large (app/runtime.py sizes it from here).
SEND_THREADS = 16
DEFAULT_BATCH_SIZE = Settings.dispatch_batch_size  # platforms per claim; core/settings.py says why


@dataclass(frozen=True)
class DispatchSummary:
    """What one dispatcher invocation did."""

    due: int = 0
    dispatched: int = 0
    failed: int = 0

    def __add__(self, other: DispatchSummary) -> DispatchSummary:
        return DispatchSummary(
            self.due + other.due, self.dispatched + other.dispatched, self.failed + other.failed
        )

    def as_dict(self) -> dict[str, int]:
        return {"due": self.due, "dispatched": self.dispatched, "failed": self.failed}


def dispatch(
    engine: Engine,
    sqs: Any,
    queue_url: str,
    request: DispatchRequest,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    time_left_ms: Callable[[], int] = lambda: 1 << 30,
    margin_ms: int = 10_000,
    clock: Callable[[], datetime] = utcnow,
    send_threads: int = SEND_THREADS,
) -> DispatchSummary:
    """Claim and enqueue: every due platform while time remains, or the requested ones (forced)."""
    with ThreadPoolExecutor(max_workers=send_threads, thread_name_prefix="dispatch-send") as pool:
        if request.kind != "schedule":
            with engine.begin() as conn:
                claims = claim_platforms(
                    conn,
                    now=clock(),
                    user_id=request.user_id,
                    platform_ids=list(request.platform_ids) if request.kind == "platforms" else None,
                )
            summary = _Sending.start(pool, sqs, queue_url, claims, "on_demand", clock()).finish(engine)
        else:
            summary = _dispatch_due(engine, pool, sqs, queue_url, batch_size, time_left_ms, margin_ms, clock)
    return _record(summary)


def _dispatch_due(
    engine: Engine,
    pool: ThreadPoolExecutor,
    sqs: Any,
    queue_url: str,
    batch_size: int,
    time_left_ms: Callable[[], int],
    margin_ms: int,
    clock: Callable[[], datetime],
) -> DispatchSummary:
    """Claim k+1 while the sends of claim k are in flight; finish k before claiming k+2."""
    summary = DispatchSummary()
    in_flight: _Sending | None = None
    try:
        while time_left_ms() > margin_ms:
            with engine.begin() as conn:
                claims = claim_due_platforms(conn, now=clock(), limit=batch_size)
            sending = _Sending.start(pool, sqs, queue_url, claims, "schedule", clock())
            previous, in_flight = in_flight, sending
            if previous is not None:
                summary += previous.finish(engine)
            # Released claims are due again at once: stop rather than spin on a queue that refuses them.
            if len(claims) < batch_size or summary.failed:
                break
    finally:
        # Whatever ended the loop (done, time, an error), the last claim is sent or released.
        if in_flight is not None:
            summary += in_flight.finish(engine)
    return summary


def _record(summary: DispatchSummary) -> DispatchSummary:
    metrics.add_metric(name=Metric.PLATFORMS_DUE, unit="Count", value=summary.due)
    metrics.add_metric(name=Metric.DISPATCHED, unit="Count", value=summary.dispatched)
    metrics.add_metric(name=Metric.DISPATCH_FAILURES, unit="Count", value=summary.failed)
    logger.info("dispatch finished", extra=summary.as_dict())
    return summary


@dataclass
class _Sending:
    """One claim's SendMessageBatch calls, submitted to the invocation's pool and not yet awaited."""

    claims: Sequence[Claim]
    futures: list[Future[list[Claim]]]

    @classmethod
    def start(
        cls,
        pool: ThreadPoolExecutor,
        sqs: Any,
        queue_url: str,
        claims: Sequence[Claim],
        trigger: str,
        requested_at: datetime,
    ) -> _Sending:
        batches = [claims[i : i + SQS_BATCH] for i in range(0, len(claims), SQS_BATCH)]
        futures = [pool.submit(_send_batch, sqs, queue_url, b, trigger, requested_at) for b in batches]
        return cls(claims, futures)

    def finish(self, engine: Engine) -> DispatchSummary:
        """Wait for every send, settle the claims (sent: one interval on; unsent: released, due
        again at once), and count them. A database error here leaves the claims leased: they
        expire on their own (``CLAIM_LEASE``), and the error fails the invocation."""
        # _send_batch turns every failure into "unsent", so result() does not raise.
        unsent = [c for future in self.futures for c in future.result()]
        unsent_ids = {c.platform_id for c in unsent}
        sent = [c for c in self.claims if c.platform_id not in unsent_ids]
        if self.claims:
            with engine.begin() as conn:
                settle_claims(conn, sent=sent, unsent=unsent)
        return DispatchSummary(
            due=len(self.claims), dispatched=len(self.claims) - len(unsent), failed=len(unsent)
        )


def _send_batch(
    sqs: Any, queue_url: str, claims: Sequence[Claim], trigger: str, requested_at: datetime
) -> list[Claim]:
    """Send one SendMessageBatch; returns the claims whose message did not go out."""
    by_id = {str(c.platform_id): c for c in claims}
    entries = [
        {
            "Id": key,
            "MessageBody": CollectMessage(
                platform_id=c.platform_id,
                trigger=trigger,  # type: ignore[arg-type]
                force=trigger == "on_demand",
                requested_at=requested_at,
            ).to_body(),
        }
        for key, c in by_id.items()
    ]
    try:
        response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    except Exception:
        # The whole call failed (network, throttling, permissions): every entry goes back.
        logger.exception("SendMessageBatch failed", extra={"platform_ids": list(by_id)})
        return list(claims)
    failed = response.get("Failed", [])
    for entry in failed:
        logger.error(
            "collect message not sent", extra={"platform_id": entry["Id"], "code": entry.get("Code")}
        )
    return [by_id[entry["Id"]] for entry in failed]
