"""The in-process SQS of the local run (``local/queue.py``): the semantics the handlers rely on.

Time is a fake clock moved by the test, never a sleep: visibility timeouts and delays expire
when the test says so.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from charlee_collector_tools.local.poller import Poller
from charlee_collector_tools.local.queue import InProcessSqs
from charlee_collector_tools.local.sqs import CollectQueues, create_collect_queues, pending

ALL = ["All"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sqs(clock: Clock) -> InProcessSqs:
    return InProcessSqs(clock=clock)


@pytest.fixture
def queues(sqs: InProcessSqs) -> CollectQueues:
    return create_collect_queues(sqs, "collect", visibility_timeout=30)


def receive(sqs: InProcessSqs, url: str, count: int = 10, **options: Any) -> list[dict[str, Any]]:
    response = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=count, MessageSystemAttributeNames=ALL, **options
    )
    return list(response.get("Messages", []))


def depth(sqs: InProcessSqs, url: str) -> tuple[int, int, int]:
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return tuple(int(attributes[name]) for name in names)  # type: ignore[return-value]


def test_a_received_message_is_hidden_until_its_visibility_timeout_passes(
    sqs: InProcessSqs, queues: CollectQueues, clock: Clock
) -> None:
    sent = sqs.send_message(QueueUrl=queues.queue_url, MessageBody='{"platform_id": 1}')
    clock.advance(2)

    [first] = receive(sqs, queues.queue_url)
    assert first["MessageId"] == sent["MessageId"] and first["Body"] == '{"platform_id": 1}'
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert first["Attributes"]["SentTimestamp"] == str(int((clock.now - 2) * 1000))
    assert receive(sqs, queues.queue_url) == []
    assert depth(sqs, queues.queue_url) == (0, 1, 0)

    clock.advance(29.9)
    assert receive(sqs, queues.queue_url) == []
    clock.advance(0.1)
    [again] = receive(sqs, queues.queue_url)
    assert again["MessageId"] == first["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert again["Attributes"]["SentTimestamp"] == first["Attributes"]["SentTimestamp"]
    assert again["ReceiptHandle"] != first["ReceiptHandle"]

    # Only the latest receive's handle moves or deletes the message.
    with pytest.raises(ClientError, match="MessageNotInflight"):
        sqs.change_message_visibility(
            QueueUrl=queues.queue_url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0
        )
    sqs.delete_message(QueueUrl=queues.queue_url, ReceiptHandle=first["ReceiptHandle"])
    assert depth(sqs, queues.queue_url) == (0, 1, 0)
    sqs.delete_message(QueueUrl=queues.queue_url, ReceiptHandle=again["ReceiptHandle"])
    assert depth(sqs, queues.queue_url) == (0, 0, 0) and pending(sqs, queues.queue_url) == 0
    clock.advance(3600)
    assert receive(sqs, queues.queue_url) == []


def test_a_receive_can_set_its_own_visibility_timeout(
    sqs: InProcessSqs, queues: CollectQueues, clock: Clock
) -> None:
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="x")
    assert len(receive(sqs, queues.queue_url, VisibilityTimeout=5)) == 1
    clock.advance(5)
    assert len(receive(sqs, queues.queue_url)) == 1


def test_a_batch_failure_is_visible_again_at_once_and_the_successes_are_gone(
    sqs: InProcessSqs, queues: CollectQueues
) -> None:
    """What the poller does with ``batchItemFailures``: ChangeMessageVisibility 0 for those."""
    bodies = [json.dumps({"platform_id": n}) for n in range(4)]
    sqs.send_message_batch(
        QueueUrl=queues.queue_url, Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies)]
    )
    batch = receive(sqs, queues.queue_url)
    assert [m["Body"] for m in batch] == bodies  # oldest first
    failed, succeeded = batch[:1], batch[1:]

    deleted = sqs.delete_message_batch(
        QueueUrl=queues.queue_url,
        Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(succeeded)],
    )
    changed = sqs.change_message_visibility_batch(
        QueueUrl=queues.queue_url,
        Entries=[{"Id": "0", "ReceiptHandle": failed[0]["ReceiptHandle"], "VisibilityTimeout": 0}],
    )

    assert (len(deleted["Successful"]), deleted["Failed"]) == (3, [])
    assert (changed["Successful"], changed["Failed"]) == ([{"Id": "0"}], [])
    [retried] = receive(sqs, queues.queue_url)
    assert retried["MessageId"] == failed[0]["MessageId"]
    assert retried["Attributes"]["ApproximateReceiveCount"] == "2"
    assert depth(sqs, queues.queue_url) == (0, 1, 0)


def test_after_five_receives_the_message_moves_to_the_dlq_byte_for_byte(
    sqs: InProcessSqs, queues: CollectQueues
) -> None:
    body = json.dumps({"platform_id": 7, "note": "naïve - ✓ \u2028 \\u0000"}, ensure_ascii=False)
    attributes = {"origin": {"DataType": "String", "StringValue": "dispatcher"}}
    sent = sqs.send_message(QueueUrl=queues.queue_url, MessageBody=body, MessageAttributes=attributes)
    [sent_view] = receive(sqs, queues.queue_url, VisibilityTimeout=0)

    counts = [sent_view["Attributes"]["ApproximateReceiveCount"]]
    for _ in range(4):
        [again] = receive(sqs, queues.queue_url, VisibilityTimeout=0)
        counts.append(again["Attributes"]["ApproximateReceiveCount"])
    assert counts == ["1", "2", "3", "4", "5"]

    assert receive(sqs, queues.queue_url) == []  # the 6th receive moves it instead
    assert pending(sqs, queues.queue_url) == 0
    [dead] = sqs.receive_message(
        QueueUrl=queues.dlq_url, MessageSystemAttributeNames=ALL, MessageAttributeNames=ALL
    )["Messages"]
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"].encode() == body.encode()
    assert dead["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert dead["MessageAttributes"] == attributes
    assert dead["Attributes"]["SentTimestamp"] == sent_view["Attributes"]["SentTimestamp"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=queues.dlq_url)["queueUrls"] == [queues.queue_url]


def test_delayed_messages_wait_and_are_counted_as_delayed(
    sqs: InProcessSqs, queues: CollectQueues, clock: Clock
) -> None:
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="later", DelaySeconds=10)
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="now")
    assert depth(sqs, queues.queue_url) == (1, 0, 1)
    assert [m["Body"] for m in receive(sqs, queues.queue_url)] == ["now"]
    clock.advance(9.9)
    assert receive(sqs, queues.queue_url) == []
    clock.advance(0.1)
    assert [m["Body"] for m in receive(sqs, queues.queue_url)] == ["later"]


def test_attributes_and_message_attributes_only_on_request(sqs: InProcessSqs, queues: CollectQueues) -> None:
    attributes = {
        "a.b": {"DataType": "Number", "StringValue": "1"},
        "c": {"DataType": "String", "StringValue": "x"},
    }
    sqs.send_message(QueueUrl=queues.queue_url, MessageBody="m", MessageAttributes=attributes)
    [plain] = sqs.receive_message(QueueUrl=queues.queue_url, VisibilityTimeout=0)["Messages"]
    assert "Attributes" not in plain and "MessageAttributes" not in plain
    [some] = sqs.receive_message(
        QueueUrl=queues.queue_url,
        VisibilityTimeout=0,
        AttributeNames=["ApproximateReceiveCount"],
        MessageAttributeNames=["a.*"],
    )["Messages"]
    assert some["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert some["MessageAttributes"] == {"a.b": attributes["a.b"]}


def test_errors_are_client_errors_with_sqs_codes(sqs: InProcessSqs, queues: CollectQueues) -> None:
    url = queues.queue_url
    with pytest.raises(ClientError, match="NonExistentQueue"):
        sqs.send_message(QueueUrl=url + "-nope", MessageBody="x")
    with pytest.raises(ClientError, match="TooManyEntriesInBatchRequest"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "x"} for n in range(11)])
    with pytest.raises(ClientError, match="BatchEntryIdsNotDistinct"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "x"}] * 2)
    with pytest.raises(ClientError, match="ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle="made-up")
    result = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "ok", "MessageBody": "x"}, {"Id": "big", "MessageBody": "x" * 262_145}]
    )
    assert [e["Id"] for e in result["Successful"]] == ["ok"]
    assert [(e["Id"], e["Code"]) for e in result["Failed"]] == [("big", "InvalidParameterValue")]


def test_concurrent_receivers_get_each_message_once(sqs: InProcessSqs, queues: CollectQueues) -> None:
    total = 2_000
    for start in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=queues.queue_url,
            Entries=[{"Id": str(n), "MessageBody": str(start + n)} for n in range(10)],
        )
    seen: list[str] = []
    lock = threading.Lock()

    def work() -> None:
        while batch := receive(sqs, queues.queue_url):
            with lock:
                seen.extend(m["Body"] for m in batch)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert Counter(seen) == Counter(str(n) for n in range(total))


def test_cost_per_message_does_not_grow_with_the_queue(sqs: InProcessSqs, queues: CollectQueues) -> None:
    """40,000 messages in and out: moto (which recounts the queue on every call) takes minutes."""
    total = 40_000
    started = time.monotonic()
    for _ in range(0, total, 10):
        sqs.send_message_batch(
            QueueUrl=queues.queue_url, Entries=[{"Id": str(n), "MessageBody": "m"} for n in range(10)]
        )
    received = 0
    while batch := receive(sqs, queues.queue_url):
        received += len(batch)
        sqs.delete_message_batch(
            QueueUrl=queues.queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)],
        )
    assert received == total and pending(sqs, queues.queue_url) == 0
    assert time.monotonic() - started < 60  # about 1 s here; a scan per call is ~1,000x that


def test_the_poller_retries_failures_to_the_dlq_with_several_batches_in_flight(
    sqs: InProcessSqs, queues: CollectQueues
) -> None:
    bodies = [json.dumps({"platform_id": n}) for n in range(95)]
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(
            QueueUrl=queues.queue_url,
            Entries=[{"Id": str(n), "MessageBody": b} for n, b in enumerate(bodies[start : start + 10])],
        )
    handled: Counter[int] = Counter()
    lock = threading.Lock()

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        failures = []
        for record in event["Records"]:
            platform_id = json.loads(record["body"])["platform_id"]
            with lock:
                handled[platform_id] += 1
            if platform_id % 10 == 0:
                failures.append({"itemIdentifier": record["messageId"]})
        return {"batchItemFailures": failures}

    poller = Poller(
        sqs, queues.queue_url, queues.queue_arn, handler, batches_in_flight=3, max_receive_count=5
    )
    stats = poller.drain(timeout_seconds=60, idle_wait_seconds=0.01)

    assert handled == Counter({n: 5 if n % 10 == 0 else 1 for n in range(95)})
    assert (stats.succeeded, stats.failed) == (85, 10 * 5)
    assert (stats.messages, stats.received) == (95, 85 + 10 * 5)
    dead = []
    while batch := receive(sqs, queues.dlq_url):
        dead.extend(batch)
    assert sorted(m["Body"] for m in dead) == sorted(bodies[::10])
    # What the poller says it dead-lettered (from the receive counts) is what the DLQ holds.
    assert sorted((d.message_id, d.body) for d in stats.dead_lettered) == sorted(
        (m["MessageId"], m["Body"]) for m in dead
    )
