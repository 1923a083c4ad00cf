"""Dispatcher Lambda: the scheduled tick, {"user_id": N} or {"platform_ids": [...]} -> collect messages;
a scheduled tick then counts the silent sources; then the event outbox's pending rows are published
and old ones pruned, content kept longer than its source's terms allow (Upwork's: 24 h) is purged,
and on a scheduled tick the opportunities of users whose profile changed are rescored, in bounded
batches."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from charlee_collector.app import publishing as outbox
from charlee_collector.app import retention
from charlee_collector.app.dispatch import dispatch
from charlee_collector.app.messages import parse_dispatch_event
from charlee_collector.app.runtime import get_runtime
from charlee_collector.app.scoring import rescore_pending
from charlee_collector.app.source_health import report_silent
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import metrics
from charlee_collector.observability.tracer import tracer


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """Returns {"due", "dispatched", "failed"}; a malformed event raises InvalidMessage."""
    request = parse_dispatch_event(event)
    logger.append_keys(trigger="schedule" if request.kind == "schedule" else "on_demand")
    runtime = get_runtime()
    summary = dispatch(
        runtime.engine,
        runtime.sqs,
        runtime.queue_url,
        request,
        batch_size=runtime.settings.dispatch_batch_size,
        time_left_ms=context.get_remaining_time_in_millis,
        margin_ms=runtime.settings.time_margin_ms,
    )
    if request.kind == "schedule":
        report_silent(runtime.engine)  # the PlatformsSilent gauge; never raises
    # Then what the collectors could not publish, and pruning; never raises (app/publishing.py).
    outbox.tick(
        runtime.engine,
        runtime.event_bus,
        time_left_ms=context.get_remaining_time_in_millis,
        margin_ms=runtime.settings.time_margin_ms,
    )
    retention.tick(runtime.engine)  # bounded batches; never raises (app/retention.py)
    if request.kind == "schedule":  # never raises (app/scoring.py): the next tick goes on
        rescore_pending(
            runtime.engine,
            time_left_ms=context.get_remaining_time_in_millis,
            margin_ms=runtime.settings.time_margin_ms,
        )
    return summary.as_dict()
