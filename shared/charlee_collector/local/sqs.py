"""SQS on this machine: moto, in this process, with the collect queue and its DLQ set up like
the template (a RedrivePolicy sending a message to the DLQ after ``MAX_RECEIVE_COUNT`` receives).

The in-process mock needs no port and no server thread; the handlers' own ``boto3.client("sqs")``
is mocked too, because the mock patches botocore for the whole process while it is active.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

COLLECT_QUEUE = "charlee-collector-collect"
MAX_RECEIVE_COUNT = 5  # the template's maxReceiveCount
# Locally the poller is the only consumer and makes failed messages visible again itself, so the
# timeout only matters if a handler dies mid-batch: keep it short so the run still finishes.
LOCAL_VISIBILITY_TIMEOUT = 2
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
REGION = "us-east-1"


@dataclass(frozen=True)
class CollectQueues:
    """The collect queue and its dead-letter queue."""

    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str


def queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def create_collect_queues(
    sqs: Any,
    name: str = COLLECT_QUEUE,
    *,
    visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT,
    max_receive_count: int = MAX_RECEIVE_COUNT,
) -> CollectQueues:
    """Create ``name`` and ``name-dlq``, wired by a RedrivePolicy (idempotent, like CreateQueue)."""
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
    )["QueueUrl"]
    dlq_arn = queue_arn(sqs, dlq_url)
    url = sqs.create_queue(
        QueueName=name,
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]
    return CollectQueues(url, queue_arn(sqs, url), dlq_url, dlq_arn)


@dataclass(frozen=True)
class LocalSqs:
    """An SQS client on the in-process mock, and the queues created on it."""

    client: Any
    queues: CollectQueues


@contextmanager
def local_sqs(*, visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT) -> Iterator[LocalSqs]:
    """Start the in-process moto SQS with the collect queue and DLQ; everything ends with the block."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("sqs", region_name=os.environ.get("AWS_DEFAULT_REGION", REGION))
        yield LocalSqs(client, create_collect_queues(client, visibility_timeout=visibility_timeout))


def pending(sqs: Any, url: str) -> int:
    """Messages still in the queue: visible, in flight or delayed."""
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)
