"""SQS batches for the collector: records run concurrently (bounded), and not past the deadline.

Powertools' ``BatchProcessor`` runs records one after another; this subclass runs them on a
small thread pool so one slow platform does not hold the others. Records that have not started
when the remaining time falls below the margin are reported failed without being touched, and
SQS delivers them again.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from charlee_collector.errors import CollectorError


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


def guard_deadline(time_left_ms: Callable[[], int], margin_ms: int) -> None:
    """Raise DeadlineReached when less than ``margin_ms`` remains; call before starting a record."""
    left = time_left_ms()
    if left < margin_ms:
        raise DeadlineReached(f"not started: {left} ms left, below the {margin_ms} ms margin")
