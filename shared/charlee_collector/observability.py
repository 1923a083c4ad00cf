"""Logger, metrics and tracer, and the one list of metric names (DESIGN section 7).

The template's dashboard and alarms are held equal to ``METRIC_NAMES`` by a test, so a metric
is added here first. Dimensions stay low-cardinality: the service, and the source kind where
useful; never a platform id.
"""

from __future__ import annotations

import os
from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE_DEFAULT = "CharleeCollector"


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
    COLLECTION_RETRIED = "CollectionRetried"
    INVALID_MESSAGES = "InvalidMessages"
    UNKNOWN_PLATFORMS = "UnknownPlatforms"
    OPPORTUNITIES_FETCHED = "OpportunitiesFetched"
    OPPORTUNITIES_INSERTED = "OpportunitiesInserted"
    OPPORTUNITIES_UPDATED = "OpportunitiesUpdated"
    COLLECTION_DURATION = "CollectionDuration"
    PLATFORMS_PAUSED = "PlatformsPaused"


METRIC_NAMES: frozenset[str] = frozenset(m.value for m in Metric)

# Each run outcome (collection_runs.outcome) counts into one metric.
OUTCOME_METRIC: dict[str, Metric] = {
    "success": Metric.COLLECTION_SUCCESS,
    "not_modified": Metric.COLLECTION_NOT_MODIFIED,
    "rate_limited": Metric.COLLECTION_RATE_LIMITED,
    "failed": Metric.COLLECTION_FAILED,
    "skipped": Metric.COLLECTION_SKIPPED,
}

# ColdStart is emitted by Powertools itself (capture_cold_start_metric=True); it is on the
# dashboard too, so the template test adds it to METRIC_NAMES.
POWERTOOLS_METRICS: frozenset[str] = frozenset({"ColdStart"})


def namespace() -> str:
    """The metrics namespace: the template's parameter, passed as POWERTOOLS_METRICS_NAMESPACE."""
    return os.environ.get("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE_DEFAULT)


logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "charlee-collector"))
metrics = Metrics(namespace=namespace())
# httpx and pg8000 calls become X-Ray subsegments; POWERTOOLS_TRACE_DISABLED=true turns tracing off.
tracer = Tracer(patch_modules=("httpx", "pg8000", "botocore"))
