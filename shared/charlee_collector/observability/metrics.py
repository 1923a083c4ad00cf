"""The one list of metric names, and metrics safe to add from worker threads.

The template's dashboard and alarms are held equal to ``METRIC_NAMES`` by a test, so a metric is
added here first. Dimensions stay low-cardinality (the service, the source kind; never a
platform id). ``metrics`` takes one lock around each change and each flush: Powertools'
check-then-set on a new name would otherwise drop a value from a concurrent thread.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricResolution, MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

from charlee_collector.observability.service import namespace, service


class Metric(StrEnum):
    """Every metric the code emits."""

    PLATFORMS_DUE = "PlatformsDue"
    DISPATCHED = "PlatformsDispatched"
    DISPATCH_FAILURES = "DispatchFailures"
    COLLECTION_SUCCESS = "CollectionSuccess"
    COLLECTION_NOT_MODIFIED = "CollectionNotModified"
    COLLECTION_RATE_LIMITED = "CollectionRateLimited"
    COLLECTION_FAILED = "CollectionFailed"
    COLLECTION_SKIPPED = "CollectionSkipped"
    COLLECTION_DEFERRED = "CollectionDeferred"
    COLLECTION_RETRIED = "CollectionRetried"
    # A record handed back to SQS with no run recorded: the database unreachable, or a bug.
    RECORDS_FAILED = "RecordsFailed"
    INVALID_MESSAGES = "InvalidMessages"
    UNKNOWN_PLATFORMS = "UnknownPlatforms"
    OPPORTUNITIES_FETCHED = "OpportunitiesFetched"
    OPPORTUNITIES_INSERTED = "OpportunitiesInserted"
    OPPORTUNITIES_UPDATED = "OpportunitiesUpdated"
    COLLECTION_DURATION = "CollectionDuration"
    PLATFORMS_PAUSED = "PlatformsPaused"
    # From the dispatcher's scheduled tick: platforms whose successful runs stopped yielding items
    # (store/silence.py), a gauge.
    PLATFORMS_SILENT = "PlatformsSilent"
    # The event outbox (app/publishing.py): entries EventBridge accepted / refused, from the collector
    # (right after its commit) and the dispatcher (its tick); the age from the dispatcher only.
    EVENTS_PUBLISHED = "EventsPublished"
    EVENTS_FAILED = "EventsFailed"
    # Events EventBridge refused publishing.MAX_ATTEMPTS times: no longer offered (alarmed).
    EVENTS_DEAD_LETTERED = "EventsDeadLettered"
    OUTBOX_OLDEST_PENDING_AGE = "OutboxOldestPendingAge"
    # The notifier (app/notify.py): alerts sent, messages they went in, rules disabled after a
    # day of channel failures (alarmed), and each alert's seconds from collection to notification
    # (dimension Source; the dashboard's p50/p95).
    ALERTS_SENT = "AlertsSent"
    ALERT_MESSAGES_SENT = "AlertMessagesSent"
    ALERT_RULES_DISABLED = "AlertRulesDisabled"
    ALERT_LATENCY = "AlertLatency"


METRIC_NAMES: frozenset[str] = frozenset(m.value for m in Metric)


# Each run outcome (collection_runs.outcome) counts into one metric.
OUTCOME_METRIC: dict[str, Metric] = {
    "success": Metric.COLLECTION_SUCCESS,
    "not_modified": Metric.COLLECTION_NOT_MODIFIED,
    "rate_limited": Metric.COLLECTION_RATE_LIMITED,
    "failed": Metric.COLLECTION_FAILED,
    "skipped": Metric.COLLECTION_SKIPPED,
    "deferred": Metric.COLLECTION_DEFERRED,
}


# ColdStart is emitted by Powertools itself (capture_cold_start_metric=True); it is on the
# dashboard too, so the template test adds it to METRIC_NAMES.
POWERTOOLS_METRICS: frozenset[str] = frozenset({"ColdStart"})


class _LockedEMFProvider(AmazonCloudWatchEMFProvider):
    """The EMF provider with one lock around every change and every flush.

    The lock is on the provider because every ``Metrics`` call ends here, and so does the
    ``log_metrics`` decorator's flush, which never passes through ``Metrics.flush_metrics``."""

    _lock = threading.RLock()

    def add_metric(
        self,
        name: str,
        unit: MetricUnit | str,
        value: float,
        resolution: MetricResolution | int = 60,
    ) -> None:
        with self._lock:
            super().add_metric(name=name, unit=unit, value=value, resolution=resolution)

    def add_dimension(self, name: str, value: str) -> None:
        with self._lock:
            super().add_dimension(name=name, value=value)

    def add_metadata(self, key: str, value: Any) -> None:
        with self._lock:
            super().add_metadata(key=key, value=value)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._lock:
            # Every invocation of ours adds metrics before it flushes, so an empty set means an
            # invocation running beside this one in the process (the local worker's batches in
            # flight) has already published them: nothing is lost, and Powertools' "no metrics"
            # warning would only be noise on the command's stderr.
            if not self.metric_set and not raise_on_empty_metrics:
                return
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


class ThreadSafeMetrics(Metrics):
    """Powertools Metrics whose calls, and whose handlers' flushes, may come from several threads
    at once (the collector's worker threads; the local worker's batches in flight)."""

    def __init__(self, service: str | None = None, namespace: str | None = None) -> None:
        # The provider keeps its own sets (its public constructor); ``Metrics`` hands every
        # call to it, so all state lives behind the provider's lock.
        provider = _LockedEMFProvider(namespace=namespace, service=service)
        super().__init__(service=service, namespace=namespace, provider=provider)


metrics = ThreadSafeMetrics(namespace=namespace(), service=service())


def publish_by_source(name: str, unit: MetricUnit, values: Iterable[tuple[str, float]]) -> None:
    """``name`` once per source, with a ``source`` dimension beside ``service``: one EMF blob per
    source holding all its values (sources are a few dozen keys, never a platform or a user).

    A provider of its own per source: a dimension added to ``metrics`` would apply to every metric
    of the invocation."""
    by_source: dict[str, list[float]] = {}
    for source, value in values:
        by_source.setdefault(source, []).append(value)
    for source, source_values in sorted(by_source.items()):
        # The namespace and service ``metrics`` publishes under, so every series shares them.
        provider = AmazonCloudWatchEMFProvider(namespace=metrics.namespace, service=metrics.service)
        provider.add_dimension(name="source", value=source)
        for value in source_values:
            provider.add_metric(name=name, unit=unit, value=value)
        provider.flush_metrics()
