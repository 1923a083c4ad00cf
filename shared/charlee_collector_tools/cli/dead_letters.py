"""The dead-letter queue's operations over any SQS client (what ``dlq`` and ``status`` run).

``depth``, ``redrive_policy`` and ``dlq_of`` read the queues; ``peek`` reads messages and leaves them.
``delete_by_id`` finds messages by the id ``dlq list`` prints (receipt handles change with every
receive) and makes the others visible again; an id not found, or a delete SQS refuses, leaves its
message and is named. ``redrive`` sends a batch to the collect queue, then deletes it from the DLQ:
interrupted, a message is in both (a duplicate, never a loss); one the queue refuses stays and stops
the redrive; a body the collector would refuse (``unreadable_reason``) stays, reported.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

WAIT_SECONDS = 1  # long polling: short polls may miss messages on real SQS
DEPTH_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]


def depth(sqs: Any, url: str) -> dict[str, int]:
    """Visible, in-flight and delayed message counts of a queue."""
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=DEPTH_ATTRIBUTES)["Attributes"]
    return {
        "visible": int(attributes.get("ApproximateNumberOfMessages", 0)),
        "in_flight": int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)),
        "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
    }


def redrive_policy(sqs: Any, queue_url: str) -> dict[str, Any] | None:
    """The queue's RedrivePolicy (``deadLetterTargetArn``, ``maxReceiveCount``), None without one."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])["Attributes"]
    policy = attributes.get("RedrivePolicy")
    return json.loads(policy) if policy else None


def max_receive_count(sqs: Any, queue_url: str) -> int | None:
    """Receives a message gets before SQS moves it to the DLQ (None: the queue has no DLQ)."""
    policy = redrive_policy(sqs, queue_url)
    return int(policy["maxReceiveCount"]) if policy else None


def dlq_of(sqs: Any, queue_url: str) -> str | None:
    """The DLQ named by the queue's RedrivePolicy, or None when it has none."""
    policy = redrive_policy(sqs, queue_url)
    if not policy:
        return None
    arn = policy["deadLetterTargetArn"]
    *_, account, name = arn.split(":")
    return sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)["QueueUrl"]


def peek(sqs: Any, url: str, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` messages, received and made visible again at once."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        batch = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=min(10, limit - len(messages)),
            WaitTimeSeconds=WAIT_SECONDS,
            VisibilityTimeout=30,  # long enough not to see the same message twice in this loop
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
    show_again(sqs, url, messages)
    return messages


def show_again(sqs: Any, url: str, messages: Sequence[dict[str, Any]]) -> None:
    """Make received messages visible at once (else they reappear when their timeout ends)."""
    for start in range(0, len(messages), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


@dataclass
class DeleteResult:
    deleted: list[str] = field(default_factory=list)
    not_deleted: dict[str, str] = field(default_factory=dict)  # message id -> SQS's error code


def delete_by_id(sqs: Any, url: str, message_ids: Sequence[str]) -> DeleteResult:
    """Delete these messages, found by the ids ``dlq list`` shows (an id not found is in neither list).

    Receives until every id is found or the queue has nothing more to show (an empty batch, or
    only messages already seen: their hiding time ran out); the others are made visible again.
    """
    wanted = set(message_ids)
    # By id, with the newest receipt handle: a message seen twice is acted on once.
    found: dict[str, dict[str, Any]] = {}
    others: dict[str, dict[str, Any]] = {}
    while wanted - found.keys():
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=WAIT_SECONDS, VisibilityTimeout=30
        ).get("Messages", [])
        repeat = {m["MessageId"] for m in batch} <= found.keys() | others.keys()
        for message in batch:
            (found if message["MessageId"] in wanted else others)[message["MessageId"]] = message
        if not batch or repeat:
            break
    show_again(sqs, url, list(others.values()))
    result = DeleteResult()
    messages = list(found.values())
    for start in range(0, len(messages), 10):
        chunk = messages[start : start + 10]
        try:
            response = sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        except Exception:
            # Refused: the rest stays in the DLQ, shown again at once (best effort: else in 30 s).
            with contextlib.suppress(Exception):
                show_again(sqs, url, messages[start:])
            raise
        failed = {int(e["Id"]): e.get("Code", "failed") for e in response.get("Failed", [])}
        for i, message in enumerate(chunk):
            if i in failed:  # still in the DLQ; visible again when its 30 s end
                result.not_deleted[message["MessageId"]] = failed[i]
            else:
                result.deleted.append(message["MessageId"])
    return result


class RedriveInterrupted(Exception):
    """The batch in progress was sent to the collect queue but could not be deleted from the DLQ."""

    def __init__(self, moved: int, pending: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.moved, self.pending, self.cause = moved, pending, cause


@dataclass
class RedriveResult:
    moved: int = 0
    not_sent: list[str] = field(default_factory=list)
    not_deleted: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # message id -> why it is left behind


def unreadable_reason(body: str) -> str | None:
    """Why ``body`` is not a collect message the collector could ever take, or None when it is."""
    from charlee_collector.app.messages import parse_collect_message
    from charlee_collector.core.errors import InvalidMessage

    try:
        parse_collect_message(body)
    except InvalidMessage as exc:
        return str(exc)
    return None


def redrive(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    *,
    limit: int | None,
    visibility_timeout: int = 60,
    on_moved: Callable[[int], None] = lambda _n: None,
) -> RedriveResult:
    """Move up to ``limit`` readable messages (all when None): receive, send, THEN delete.

    Unreadable bodies stay hidden while the redrive runs (so it does not receive them again) and
    are made visible again at the end; if it runs past ``visibility_timeout`` one comes back into
    a batch, and a batch of nothing but those ends the redrive.
    """
    result = RedriveResult()
    left_behind: dict[str, dict[str, Any]] = {}
    try:
        while limit is None or result.moved < limit:
            want = 10 if limit is None else min(10, limit - result.moved)
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=want,
                WaitTimeSeconds=WAIT_SECONDS,
                VisibilityTimeout=visibility_timeout,
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch or {m["MessageId"] for m in batch} <= left_behind.keys():
                break  # nothing more to move: empty, or only the unreadable ones again
            readable = []
            for message in batch:
                reason = unreadable_reason(message["Body"])
                if reason is None:
                    readable.append(message)
                else:
                    result.unreadable[message["MessageId"]] = reason
                    left_behind[message["MessageId"]] = message  # the newest receipt handle
            if readable and not _move(sqs, dlq_url, queue_url, readable, result, on_moved):
                break  # the collect queue refuses messages: stop instead of spinning on them
    finally:
        # Best effort: if this fails they reappear anyway when their visibility timeout ends.
        with contextlib.suppress(Exception):
            show_again(sqs, dlq_url, list(left_behind.values()))
    return result


def _move(
    sqs: Any,
    dlq_url: str,
    queue_url: str,
    batch: list[dict[str, Any]],
    result: RedriveResult,
    on_moved: Callable[[int], None],
) -> bool:
    """Send one batch to the collect queue, then delete what was sent; False when some was refused."""
    by_id = {str(i): m for i, m in enumerate(batch)}
    entries = []
    for key, message in by_id.items():
        entry: dict[str, Any] = {"Id": key, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            entry["MessageAttributes"] = message["MessageAttributes"]
        entries.append(entry)
    response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
    sent = [e["Id"] for e in response.get("Successful", [])]
    unsent = [e["Id"] for e in response.get("Failed", [])]
    if unsent:
        # Left in the DLQ and made visible again: nothing is deleted that was not sent.
        result.not_sent.extend(by_id[key]["MessageId"] for key in unsent)
        sqs.change_message_visibility_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": key, "ReceiptHandle": by_id[key]["ReceiptHandle"], "VisibilityTimeout": 0}
                for key in unsent
            ],
        )
    if sent:
        try:
            deleted = sqs.delete_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": key, "ReceiptHandle": by_id[key]["ReceiptHandle"]} for key in sent],
            )
        except Exception as exc:
            raise RedriveInterrupted(result.moved, len(sent), exc) from exc
        result.not_deleted.extend(by_id[e["Id"]]["MessageId"] for e in deleted.get("Failed", []))
        result.moved += len(sent)
        on_moved(len(sent))
    return not unsent
