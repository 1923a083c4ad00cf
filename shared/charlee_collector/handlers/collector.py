"""Collector Lambda: an SQS batch of collect messages -> one collection each, partial failures reported."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from charlee_collector.app.collect import collect_message
from charlee_collector.app.messages import check_sqs_batch, receive_count
from charlee_collector.app.runtime import get_runtime
from charlee_collector.app.sqs_batch import ConcurrentSqsProcessor, DeadlineReached, start_record
from charlee_collector.core.errors import InvalidMessage, SourceError
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import Metric, metrics
from charlee_collector.observability.tracer import tracer


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    """One record: started only while a whole collection fits in the time left, and bounded by
    it; a raise reports it failed so SQS redelivers it."""
    runtime = get_runtime()
    logger.thread_safe_append_keys(message_id=record.message_id)
    try:
        deadline = start_record(lambda_context.get_remaining_time_in_millis, runtime.settings)
        attempt = receive_count(record.raw_event.get("attributes"))
        return collect_message(
            runtime, record.body, message_id=record.message_id, attempt=attempt, deadline=deadline
        ).outcome
    except (SourceError, InvalidMessage):
        raise  # app/collect.py logged these, with the reason
    except DeadlineReached as exc:
        logger.warning("record not started; SQS will deliver it again", extra={"error": str(exc)})
        raise
    except Exception:
        # The database or a bug: no run could be recorded, so without this line and this metric
        # the record would fail silently until the queue's age or the DLQ told.
        logger.exception("record failed; SQS will deliver it again")
        metrics.add_metric(name=Metric.RECORDS_FAILED, unit="Count", value=1)
        raise
    finally:
        logger.thread_safe_clear_keys()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """Returns {"batchItemFailures": [...]}; an event without Records is an error, not a success."""
    check_sqs_batch(event)
    processor = ConcurrentSqsProcessor(max_workers=get_runtime().settings.collector_concurrency)
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
