"""SQS batches for the collector: records run concurrently (bounded), and not past the deadline.

Powertools' ``BatchProcessor`` runs records one after another; this subclass runs them on a
small thread pool so one slow platform does not hold the others. A record starts only while a
whole collection still fits before the margin (``TIME_MARGIN_MS`` plus
``COLLECTION_DEADLINE_SECONDS``), and then runs under that collection's deadline (``start_record``
creates it, once per record), so no fetch can outlive the invocation. Records that would start later are reported failed
without being touched, and SQS delivers them again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from charlee_collector.core.errors import CollectorError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.client import Deadline


class DeadlineReached(CollectorError):
    """The Lambda is about to time out: this record was not started."""


class ConcurrentSqsProcessor(BatchProcessor):
    """A partial-batch SQS processor that runs up to ``max_workers`` records at once."""

    def __init__(self, max_workers: int, **kwargs: Any) -> None:
        # Report failures item by item even when all fail, instead of raising for the whole batch.
        super().__init__(EventType.SQS, raise_on_entire_batch_failure=False, **kwargs)
        self.max_workers = max_workers

    def process(self) -> list[tuple[Any, ...]]:
        if len(self.records) <= 1 or self.max_workers <= 1:
            return super().process()
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="record") as pool:
            return list(pool.map(self._process_record, self.records))


def guard_deadline(time_left_ms: Callable[[], int], margin_ms: int, *, collection_seconds: float) -> None:
    """Raise DeadlineReached unless ``margin_ms`` plus a whole collection (``collection_seconds``)
    remains; call before starting a record."""
    left = time_left_ms()
    needed = margin_ms + math.ceil(collection_seconds * 1000)
    if left < needed:
        raise DeadlineReached(
            f"not started: {left} ms left, below the {margin_ms} ms margin (TIME_MARGIN_MS) plus "
            f"{collection_seconds:g} s for a collection (COLLECTION_DEADLINE_SECONDS)"
        )


def start_record(time_left_ms: Callable[[], int], settings: Settings) -> Deadline:
    """The deadline of a record's collection, started now; ``DeadlineReached`` instead when a whole
    collection no longer fits before the margin."""
    guard_deadline(
        time_left_ms, settings.time_margin_ms, collection_seconds=settings.collection_deadline_seconds
    )
    return Deadline(settings.collection_deadline_seconds)
