"""A small stand-in for Lambda's SQS event source mapping.

``Poller`` receives up to ten messages, hands them to the collector handler as an SQS event, deletes
the records that succeeded and makes those in ``batchItemFailures`` visible again at once, so SQS
moves a message that keeps failing to the DLQ after ``maxReceiveCount`` receives, as in AWS; a
handler that raises fails the whole batch. ``drain`` keeps ``batches_in_flight`` batches going, each
on a thread, the handlers' prints sent to ``handler_stdout``. What it dead-lettered it knows from the
receive counts, never by reading the DLQ (which may be shared).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

from charlee_collector_tools.local.handlers import Handler, LocalLambdaContext
from charlee_collector_tools.local.sqs import REGION, pending

BATCH_SIZE = 10  # the most SQS returns per receive, and the template's BatchSize


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The Lambda event SQS delivers for these received messages."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": m.get("Attributes", {}).get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": m.get("Attributes", {}).get("SentTimestamp", "0"),
                    "SenderId": m.get("Attributes", {}).get("SenderId", "AIDALOCAL"),
                    "ApproximateFirstReceiveTimestamp": m.get("Attributes", {}).get(
                        "ApproximateFirstReceiveTimestamp", "0"
                    ),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in (m.get("MessageAttributes") or {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": queue_arn.split(":")[3] if queue_arn.count(":") >= 5 else REGION,
            }
            for m in messages
        ]
    }


@dataclass(frozen=True)
class DeadLetter:
    """A message that used up its receives: SQS moved it to the DLQ as it was."""

    message_id: str
    body: str


@dataclass
class PollStats:
    """What the poller did: ``received`` counts receives (a retried message is received again),
    ``message_ids`` the distinct messages, ``acknowledged`` the body of each one the handler
    took (deleted from the queue), by message id."""

    batches: int = 0
    received: int = 0
    succeeded: int = 0
    failed: int = 0
    message_ids: set[str] = field(default_factory=set)
    acknowledged: dict[str, str] = field(default_factory=dict)
    handler_errors: list[str] = field(default_factory=list)
    dead_lettered: list[DeadLetter] = field(default_factory=list)

    @property
    def messages(self) -> int:
        """How many distinct messages were received."""
        return len(self.message_ids)


class Poller:
    """Feeds one queue to one handler, batch by batch (several at once in ``drain``)."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        handler: Handler,
        *,
        function_name: str = "CollectorFunction",
        retry_delay_seconds: int = 0,
        on_batch: Callable[[PollStats], None] = lambda _stats: None,
        handler_stdout: TextIO | None = None,
        batches_in_flight: int = 1,
        max_receive_count: int | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.handler = handler
        self.function_name = function_name
        self.retry_delay_seconds = retry_delay_seconds
        self.on_batch = on_batch
        self.handler_stdout = handler_stdout
        self.batches_in_flight = max(batches_in_flight, 1)
        self.max_receive_count = max_receive_count  # the queue's RedrivePolicy; None: no DLQ known
        self.stats = PollStats()
        self._stats_lock = threading.Lock()
        self._stopping = threading.Event()
        # True while waiting in ReceiveMessage: nothing is in hand, so a stop may cut the wait short.
        self.receiving = False

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Receive one batch and run it through the handler; returns how many messages came."""
        # Handlers print EMF metrics to stdout, as Lambda wants; here stdout is the command's
        # result, so what they print goes to stderr (or wherever the caller says).
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            return self._run_batch(wait_seconds)

    def _run_batch(self, wait_seconds: int) -> int:
        self.receiving = True
        try:
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=BATCH_SIZE,
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        finally:
            self.receiving = False
        if not messages:
            return 0
        by_id = {m["MessageId"]: m for m in messages}
        error = None
        try:
            response = self.handler(
                sqs_event(messages, self.queue_arn), LocalLambdaContext(self.function_name)
            )
            failed_ids = {item["itemIdentifier"] for item in (response or {}).get("batchItemFailures", [])}
        except Exception as exc:
            # A raising handler fails the whole batch: every message comes back.
            error = f"{type(exc).__name__}: {exc}"
            failed_ids = set(by_id)
        succeeded = [m for key, m in by_id.items() if key not in failed_ids]
        failed = [by_id[key] for key in failed_ids if key in by_id]
        self._settle(succeeded, failed)
        with self._stats_lock:
            self.stats.batches += 1
            self.stats.received += len(messages)
            self.stats.message_ids.update(by_id)
            self.stats.acknowledged.update((m["MessageId"], m["Body"]) for m in succeeded)
            self.stats.succeeded += len(succeeded)
            self.stats.failed += len(failed)
            self.stats.dead_lettered.extend(self._last_receives(failed))
            if error:
                self.stats.handler_errors.append(error)
            self.on_batch(self.stats)
        return len(messages)

    def _last_receives(self, failed: list[dict[str, Any]]) -> list[DeadLetter]:
        """The failed messages SQS moves to the DLQ on their next receive (no receive is left)."""
        if self.max_receive_count is None:
            return []
        return [
            DeadLetter(m["MessageId"], m["Body"])
            for m in failed
            if int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)) >= self.max_receive_count
        ]

    def _settle(self, succeeded: list[dict[str, Any]], failed: list[dict[str, Any]]) -> None:
        if succeeded:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(succeeded)
                ],
            )
        if failed:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_delay_seconds,
                    }
                    for i, m in enumerate(failed)
                ],
            )

    def drain(self, *, timeout_seconds: float = 300, idle_wait_seconds: float = 0.2) -> PollStats:
        """Poll until the queue is empty with nothing in flight (or the timeout passes).

        Messages that exhausted their receives are moved to the DLQ by SQS on the next receive,
        so the queue drains even when every collection keeps failing. Past the timeout no new
        batch starts; the batches in flight finish first.
        """
        deadline = time.monotonic() + timeout_seconds
        # Switched once, here in the calling thread: redirect_stdout in each batch's thread would
        # restore the wrong stream.
        with contextlib.redirect_stdout(self.handler_stdout or sys.stderr):
            if self.batches_in_flight == 1:
                self._work(deadline, idle_wait_seconds)
            else:
                with ThreadPoolExecutor(self.batches_in_flight, thread_name_prefix="batch") as pool:
                    workers = [
                        pool.submit(self._work, deadline, idle_wait_seconds)
                        for _ in range(self.batches_in_flight)
                    ]
                    for worker in workers:
                        worker.result()
        return self.stats

    def _work(self, deadline: float, idle_wait_seconds: float) -> None:
        """One worker of ``drain``: batch after batch until the queue is empty or time is up."""
        while time.monotonic() < deadline:
            if self._run_batch(0):
                continue
            if pending(self.sqs, self.queue_url) == 0:
                return
            time.sleep(idle_wait_seconds)  # in flight elsewhere, or a retry delay running

    def stop(self) -> None:
        """Ask ``run_forever`` to return once the batch in hand is settled (a signal handler may call it)."""
        self._stopping.set()

    def run_forever(self, *, wait_seconds: int = 20) -> None:
        """Long-poll and process until ``stop`` (or Ctrl-C)."""
        while not self._stopping.is_set():
            self.poll_once(wait_seconds=wait_seconds)
