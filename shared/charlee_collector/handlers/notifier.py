"""Notifier Lambda: an SQS batch of OpportunitiesCollected events -> instant alerts
(``app/notify.py``), the events whose alerts a channel refused reported for redelivery; its
schedule's event -> the digests that are due (``app/digests.py``)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext

from charlee_collector.alerts.channels import Transports
from charlee_collector.app.digests import send_due_digests
from charlee_collector.app.messages import check_sqs_batch
from charlee_collector.app.notify import failed_ids, notify_batch
from charlee_collector.app.runtime import get_runtime
from charlee_collector.core.aws import read_secret_json
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import Metric, metrics, publish_by_source
from charlee_collector.observability.tracer import tracer

SCHEDULED = "Scheduled Event"  # what EventBridge's schedule sends
# A channel's credentials are read at most every 5 minutes: a rotated webhook is used soon after.
SECRET_MAX_AGE_SECONDS = 300


def _read_secret(name: str) -> Any:
    return read_secret_json(name, max_age=SECRET_MAX_AGE_SECONDS)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse | dict[str, Any]:
    """An SQS batch: {"batchItemFailures": [...]} (an event without Records is an error, not a
    success). The schedule's event: {"digests_sent": N}."""
    runtime = get_runtime()
    via = Transports(http=runtime.http, ses=runtime.ses)
    if event.get("detail-type") == SCHEDULED and "Records" not in event:
        digests = send_due_digests(runtime.engine, via=via, read_secret=_read_secret)
        metrics.add_metric(name=Metric.ALERTS_SENT, unit="Count", value=digests.alerts_sent)
        metrics.add_metric(name=Metric.ALERT_MESSAGES_SENT, unit="Count", value=len(digests.sent))
        metrics.add_metric(name=Metric.ALERT_RULES_DISABLED, unit="Count", value=len(digests.rules_disabled))
        return {"digests_sent": len(digests.sent)}
    check_sqs_batch(event)
    records = [(str(r["messageId"]), str(r["body"])) for r in event["Records"]]
    result = notify_batch(runtime.engine, records, via=via, read_secret=_read_secret)
    metrics.add_metric(name=Metric.ALERTS_SENT, unit="Count", value=result.alerts_sent)
    metrics.add_metric(name=Metric.ALERT_MESSAGES_SENT, unit="Count", value=result.messages_sent)
    metrics.add_metric(name=Metric.ALERT_RULES_DISABLED, unit="Count", value=len(result.rules_disabled))
    for _source, seconds in result.latencies:
        metrics.add_metric(name=Metric.ALERT_LATENCY, unit="Seconds", value=seconds)
    # The same per source (the dashboard's per-source p50/p95 widget reads these).
    publish_by_source(Metric.ALERT_LATENCY, MetricUnit.Seconds, result.latencies)
    failed = failed_ids(result, (m for m, _ in records))
    return {"batchItemFailures": [{"itemIdentifier": m} for m in failed]}
