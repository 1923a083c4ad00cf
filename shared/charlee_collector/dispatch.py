"""Claim due platforms, send one collect message each, release what could not be sent.

Claims are committed before sending: a dispatcher that dies in between leaves its platforms
claimed for one interval, after which the next tick takes them again. A platform is never
enqueued twice by two dispatchers, because a claim is a row lock plus a moved
``next_collection_at`` in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from charlee_collector.messages import CollectMessage, DispatchRequest
from charlee_collector.models import utcnow
from charlee_collector.observability import Metric, logger, metrics
from charlee_collector.storage import Claim, claim_due_platforms, claim_platforms, release_claims

SQS_BATCH = 10  # SendMessageBatch takes at most 10 entries
SEND_THREADS = 8


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
    batch_size: int = 100,
    time_left_ms: Callable[[], int] = lambda: 1 << 30,
    margin_ms: int = 10_000,
    clock: Callable[[], datetime] = utcnow,
) -> DispatchSummary:
    """Claim and enqueue: every due platform while time remains, or the requested ones (forced)."""
    if request.kind != "schedule":
        with engine.begin() as conn:
            claims = claim_platforms(
                conn,
                now=clock(),
                user_id=request.user_id,
                platform_ids=list(request.platform_ids) if request.kind == "platforms" else None,
            )
        summary = _send_and_release(engine, sqs, queue_url, claims, trigger="on_demand", clock=clock)
        return _record(summary)

    summary = DispatchSummary()
    while time_left_ms() > margin_ms:
        with engine.begin() as conn:
            claims = claim_due_platforms(conn, now=clock(), limit=batch_size)
        sent = _send_and_release(engine, sqs, queue_url, claims, trigger="schedule", clock=clock)
        summary += sent
        # Released claims are due again at once: stop rather than spin on a queue that refuses them.
        if len(claims) < batch_size or sent.failed:
            break
    return _record(summary)


def _record(summary: DispatchSummary) -> DispatchSummary:
    metrics.add_metric(name=Metric.PLATFORMS_DUE, unit="Count", value=summary.due)
    metrics.add_metric(name=Metric.DISPATCHED, unit="Count", value=summary.dispatched)
    metrics.add_metric(name=Metric.DISPATCH_FAILURES, unit="Count", value=summary.failed)
    logger.info("dispatch finished", extra=summary.as_dict())
    return summary


def _send_and_release(
    engine: Engine,
    sqs: Any,
    queue_url: str,
    claims: Sequence[Claim],
    *,
    trigger: str,
    clock: Callable[[], datetime],
) -> DispatchSummary:
    if not claims:
        return DispatchSummary()
    requested_at = clock()
    batches = [claims[i : i + SQS_BATCH] for i in range(0, len(claims), SQS_BATCH)]
    with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(batches))) as pool:
        unsent = [
            c
            for failed in pool.map(lambda b: _send_batch(sqs, queue_url, b, trigger, requested_at), batches)
            for c in failed
        ]
    if unsent:
        # Released claims become due again at once, so the next tick (or loop) picks them up.
        with engine.begin() as conn:
            release_claims(conn, unsent)
    return DispatchSummary(due=len(claims), dispatched=len(claims) - len(unsent), failed=len(unsent))


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
