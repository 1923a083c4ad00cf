"""An SQS service in this process: the client calls the local run makes, at O(1) per message.

``InProcessSqs`` answers the boto3 SQS calls the dispatcher, poller and runner make (send, receive,
delete and change visibility, with their batch forms; ``get_queue_attributes``, ...) with the same
arguments and response shapes, and keeps what they rely on: visibility timeouts, only the latest
receipt handle valid, receive counts, the move to the DLQ after ``maxReceiveCount``, ``DelaySeconds``,
one lock for any thread. Not modelled: retention, FIFO, attribute MD5s, permissions. Errors are
``ClientError``s with SQS's codes; the time comes from ``clock``, so a test can move it.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCOUNT = "123456789012"
MAX_BODY_BYTES = 262_144
MAX_BATCH = 10


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


_DELAYED, _IN_FLIGHT, _VISIBLE = "delayed", "in_flight", "visible"


@dataclass
class _Message:
    message_id: str
    body: str
    message_attributes: dict[str, Any]
    sent_ms: int
    state: str
    visible_at: float
    receive_count: int = 0
    first_receive_ms: int | None = None
    version: int = 0  # bumped whenever visible_at moves: older heap entries are stale


@dataclass
class _Queue:
    name: str
    url: str
    arn: str
    attributes: dict[str, str]
    created: float
    messages: dict[str, _Message] = field(default_factory=dict)
    visible: deque[str] = field(default_factory=deque)  # oldest first; deleted ids skipped lazily
    hidden: list[tuple[float, int, str, int]] = field(default_factory=list)  # (visible_at, seq, id, version)
    counts: dict[str, int] = field(default_factory=lambda: {_DELAYED: 0, _IN_FLIGHT: 0})

    def attribute(self, name: str, default: int) -> int:
        return int(self.attributes.get(name, default))

    def redrive(self) -> tuple[str, int] | None:
        policy = self.attributes.get("RedrivePolicy")
        if not policy:
            return None
        parsed = json.loads(policy)
        return str(parsed["deadLetterTargetArn"]), int(parsed["maxReceiveCount"])


class InProcessSqs:
    """The SQS client calls the local run makes, answered in this process (thread-safe)."""

    def __init__(self, *, region: str = REGION, clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self.clock = clock
        self._queues: dict[str, _Queue] = {}  # by URL
        self._seq = 0
        self._changed = threading.Condition(threading.Lock())

    # -- queues -------------------------------------------------------------------------------

    def create_queue(self, QueueName: str, Attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
        attributes = {"VisibilityTimeout": "30", "DelaySeconds": "0", **(Attributes or {})}
        url = f"https://sqs.{self.region}.amazonaws.com/{ACCOUNT}/{QueueName}"
        with self._changed:
            existing = self._queues.get(url)
            if existing is None:
                arn = f"arn:aws:sqs:{self.region}:{ACCOUNT}:{QueueName}"
                self._queues[url] = _Queue(QueueName, url, arn, attributes, self.clock())
            elif existing.attributes != attributes:
                raise _error("QueueAlreadyExists", f"{QueueName} exists with other attributes", "CreateQueue")
        return {"QueueUrl": url}

    def get_queue_url(self, QueueName: str, **_: Any) -> dict[str, Any]:
        with self._changed:
            for queue in self._queues.values():
                if queue.name == QueueName:
                    return {"QueueUrl": queue.url}
        raise _error("AWS.SimpleQueueService.NonExistentQueue", QueueName, "GetQueueUrl")

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: Sequence[str] = ("All",)) -> dict[str, Any]:
        with self._changed:
            queue = self._queue(QueueUrl, "GetQueueAttributes")
            self._reveal(queue, self.clock())
            delayed, in_flight = queue.counts[_DELAYED], queue.counts[_IN_FLIGHT]
            everything = {
                **queue.attributes,
                "QueueArn": queue.arn,
                "ApproximateNumberOfMessages": str(len(queue.messages) - delayed - in_flight),
                "ApproximateNumberOfMessagesNotVisible": str(in_flight),
                "ApproximateNumberOfMessagesDelayed": str(delayed),
                "CreatedTimestamp": str(int(queue.created)),
            }
        if "All" in AttributeNames:
            return {"Attributes": everything}
        return {"Attributes": {name: everything[name] for name in AttributeNames if name in everything}}

    def list_dead_letter_source_queues(self, QueueUrl: str, **_: Any) -> dict[str, Any]:
        with self._changed:
            arn = self._queue(QueueUrl, "ListDeadLetterSourceQueues").arn
            sources = [q.url for q in self._queues.values() if (q.redrive() or ("", 0))[0] == arn]
        return {"queueUrls": sources}

    def purge_queue(self, QueueUrl: str) -> dict[str, Any]:
        with self._changed:
            queue = self._queue(QueueUrl, "PurgeQueue")
            queue.messages.clear()
            queue.visible.clear()
            queue.hidden.clear()
            queue.counts = {_DELAYED: 0, _IN_FLIGHT: 0}
        return {}

    # -- sending ------------------------------------------------------------------------------

    def send_message(
        self,
        QueueUrl: str,
        MessageBody: str,
        DelaySeconds: int | None = None,
        MessageAttributes: Mapping[str, Any] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        with self._changed:
            queue = self._queue(QueueUrl, "SendMessage")
            problem = _body_problem(MessageBody)
            if problem:
                raise _error("InvalidParameterValue", problem, "SendMessage")
            message = self._enqueue(queue, MessageBody, DelaySeconds, MessageAttributes)
        return {"MessageId": message.message_id, "MD5OfMessageBody": _md5(MessageBody)}

    def send_message_batch(self, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        _check_batch(Entries, "SendMessageBatch")
        successful, failed = [], []
        with self._changed:
            queue = self._queue(QueueUrl, "SendMessageBatch")
            for entry in Entries:
                problem = _body_problem(entry.get("MessageBody"))
                if problem:
                    failed.append(
                        {
                            "Id": entry["Id"],
                            "SenderFault": True,
                            "Code": "InvalidParameterValue",
                            "Message": problem,
                        }
                    )
                    continue
                message = self._enqueue(
                    queue, entry["MessageBody"], entry.get("DelaySeconds"), entry.get("MessageAttributes")
                )
                successful.append(
                    {
                        "Id": entry["Id"],
                        "MessageId": message.message_id,
                        "MD5OfMessageBody": _md5(message.body),
                    }
                )
        return {"Successful": successful, "Failed": failed}

    # -- receiving ----------------------------------------------------------------------------

    def receive_message(
        self,
        QueueUrl: str,
        MaxNumberOfMessages: int = 1,
        VisibilityTimeout: int | None = None,
        WaitTimeSeconds: int = 0,
        AttributeNames: Sequence[str] = (),
        MessageSystemAttributeNames: Sequence[str] = (),
        MessageAttributeNames: Sequence[str] = (),
        **_: Any,
    ) -> dict[str, Any]:
        """Up to ``MaxNumberOfMessages`` visible messages; waits up to ``WaitTimeSeconds`` for one."""
        if not 1 <= MaxNumberOfMessages <= MAX_BATCH:
            raise _error("InvalidParameterValue", "MaxNumberOfMessages must be 1 to 10", "ReceiveMessage")
        give_up = time.monotonic() + WaitTimeSeconds
        with self._changed:
            queue = self._queue(QueueUrl, "ReceiveMessage")
            timeout = (
                queue.attribute("VisibilityTimeout", 30) if VisibilityTimeout is None else VisibilityTimeout
            )
            while True:
                received = self._take(queue, MaxNumberOfMessages, timeout)
                left = give_up - time.monotonic()
                if received or left <= 0:
                    break
                self._changed.wait(min(left, 1.0))  # woken by a send or a visibility change
        system = {*AttributeNames, *MessageSystemAttributeNames}
        messages = [_shape(m, handle, system, MessageAttributeNames) for m, handle in received]
        return {"Messages": messages} if messages else {}

    def delete_message(self, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        with self._changed:
            self._delete(self._queue(QueueUrl, "DeleteMessage"), ReceiptHandle, "DeleteMessage")
        return {}

    def delete_message_batch(self, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        _check_batch(Entries, "DeleteMessageBatch")
        with self._changed:
            queue = self._queue(QueueUrl, "DeleteMessageBatch")
            return self._each(
                Entries, lambda e: self._delete(queue, e["ReceiptHandle"], "DeleteMessageBatch")
            )

    def change_message_visibility(
        self, QueueUrl: str, ReceiptHandle: str, VisibilityTimeout: int
    ) -> dict[str, Any]:
        with self._changed:
            queue = self._queue(QueueUrl, "ChangeMessageVisibility")
            self._change_visibility(queue, ReceiptHandle, VisibilityTimeout, "ChangeMessageVisibility")
        return {}

    def change_message_visibility_batch(
        self, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        operation = "ChangeMessageVisibilityBatch"
        _check_batch(Entries, operation)
        with self._changed:
            queue = self._queue(QueueUrl, operation)
            return self._each(
                Entries,
                lambda e: self._change_visibility(
                    queue, e["ReceiptHandle"], int(e["VisibilityTimeout"]), operation
                ),
            )

    # -- the parts (called with the lock held) ------------------------------------------------

    def _queue(self, url: str, operation: str) -> _Queue:
        queue = self._queues.get(url)
        if queue is None:
            raise _error("AWS.SimpleQueueService.NonExistentQueue", f"no queue {url}", operation)
        return queue

    def _hide(self, queue: _Queue, message: _Message, until: float) -> None:
        message.visible_at = until
        message.version += 1
        self._seq += 1
        heapq.heappush(queue.hidden, (until, self._seq, message.message_id, message.version))
        self._changed.notify_all()

    def _enqueue(
        self, queue: _Queue, body: str, delay: int | None, attributes: Mapping[str, Any] | None
    ) -> _Message:
        now = self.clock()
        delay = queue.attribute("DelaySeconds", 0) if delay is None else int(delay)
        message = _Message(str(uuid.uuid4()), body, dict(attributes or {}), int(now * 1000), _VISIBLE, now)
        queue.messages[message.message_id] = message
        if delay > 0:
            message.state = _DELAYED
            queue.counts[_DELAYED] += 1
            self._hide(queue, message, now + delay)
        else:
            queue.visible.append(message.message_id)
            self._changed.notify_all()
        return message

    def _reveal(self, queue: _Queue, now: float) -> None:
        """Make visible the messages whose delay or visibility timeout has passed."""
        while queue.hidden and queue.hidden[0][0] <= now:
            _, _, message_id, version = heapq.heappop(queue.hidden)
            message = queue.messages.get(message_id)
            if message is None or message.version != version or message.state == _VISIBLE:
                continue  # deleted, or its visibility moved since this entry was pushed
            queue.counts[message.state] -= 1
            message.state = _VISIBLE
            queue.visible.append(message_id)

    def _take(self, queue: _Queue, limit: int, timeout: int) -> list[tuple[_Message, str]]:
        now = self.clock()
        self._reveal(queue, now)
        redrive = queue.redrive()
        taken: list[tuple[_Message, str]] = []
        while queue.visible and len(taken) < limit:
            message = queue.messages.get(queue.visible.popleft())
            if message is None or message.state != _VISIBLE:
                continue
            if redrive and message.receive_count >= redrive[1]:
                self._dead_letter(queue, message, redrive[0])
                continue
            message.receive_count += 1
            message.first_receive_ms = message.first_receive_ms or int(now * 1000)
            message.state = _IN_FLIGHT
            queue.counts[_IN_FLIGHT] += 1
            self._hide(queue, message, now + timeout)
            taken.append((message, _handle_of(queue, message)))
        return taken

    def _dead_letter(self, queue: _Queue, message: _Message, dlq_arn: str) -> None:
        dlq = next((q for q in self._queues.values() if q.arn == dlq_arn), None)
        del queue.messages[message.message_id]
        if dlq is None:
            return  # SQS drops it too when the target is gone
        message.receive_count, message.first_receive_ms = 0, None
        message.version += 1
        dlq.messages[message.message_id] = message
        dlq.visible.append(message.message_id)

    def _find(self, queue: _Queue, handle: str, operation: str) -> _Message | None:
        """The message a receipt handle names (None: already deleted or moved away)."""
        name, _, rest = handle.partition("/")
        message_id, _, count = rest.partition("/")
        if name != queue.name or not count.isdigit():
            raise _error("ReceiptHandleIsInvalid", f"not a receipt handle of {queue.name}", operation)
        return queue.messages.get(message_id)

    def _delete(self, queue: _Queue, handle: str, operation: str) -> None:
        # As in SQS, a handle of a message already gone, or one received again since, succeeds
        # without deleting anything.
        message = self._find(queue, handle, operation)
        if message is not None and handle == _handle_of(queue, message):
            if message.state != _VISIBLE:
                queue.counts[message.state] -= 1
            del queue.messages[message.message_id]

    def _change_visibility(self, queue: _Queue, handle: str, timeout: int, operation: str) -> None:
        message = self._find(queue, handle, operation)
        if message is None or message.state != _IN_FLIGHT or handle != _handle_of(queue, message):
            raise _error("MessageNotInflight", "the message is not in flight under this handle", operation)
        self._hide(queue, message, self.clock() + timeout)

    def _each(
        self, entries: Sequence[Mapping[str, Any]], action: Callable[[Mapping[str, Any]], None]
    ) -> dict[str, Any]:
        successful, failed = [], []
        for entry in entries:
            try:
                action(entry)
                successful.append({"Id": entry["Id"]})
            except ClientError as exc:
                error = exc.response["Error"]
                failed.append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": True,
                        "Code": error["Code"],
                        "Message": error["Message"],
                    }
                )
        return {"Successful": successful, "Failed": failed}


def _handle_of(queue: _Queue, message: _Message) -> str:
    return f"{queue.name}/{message.message_id}/{message.receive_count}"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _body_problem(body: Any) -> str | None:
    if not isinstance(body, str) or not body:
        return "MessageBody must be a non-empty string"
    if len(body.encode()) > MAX_BODY_BYTES:
        return f"MessageBody is longer than {MAX_BODY_BYTES} bytes"
    return None


def _check_batch(entries: Sequence[Mapping[str, Any]], operation: str) -> None:
    if not entries:
        raise _error("AWS.SimpleQueueService.EmptyBatchRequest", "no entries", operation)
    if len(entries) > MAX_BATCH:
        raise _error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "more than 10 entries", operation)
    if len({e["Id"] for e in entries}) != len(entries):
        raise _error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Ids repeat", operation)


def _wanted(name: str, patterns: Sequence[str]) -> bool:
    return any(
        p in ("All", ".*") or p == name or (p.endswith(".*") and name.startswith(p[:-1])) for p in patterns
    )


def _shape(
    message: _Message, handle: str, system: set[str], attribute_names: Sequence[str]
) -> dict[str, Any]:
    """A received message as boto3 returns it: system attributes and message attributes on request."""
    shaped: dict[str, Any] = {
        "MessageId": message.message_id,
        "ReceiptHandle": handle,
        "MD5OfBody": _md5(message.body),
        "Body": message.body,
    }
    available = {
        "SenderId": "AIDALOCAL",
        "SentTimestamp": str(message.sent_ms),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms or message.sent_ms),
    }
    chosen = available if "All" in system else {k: v for k, v in available.items() if k in system}
    if chosen:
        shaped["Attributes"] = chosen
    attributes = {k: v for k, v in message.message_attributes.items() if _wanted(k, attribute_names)}
    if attributes:
        shaped["MessageAttributes"] = attributes
    return shaped
