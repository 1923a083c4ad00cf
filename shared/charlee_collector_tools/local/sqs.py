"""SQS on this machine: the in-process queue service (``queue.py``) with the collect queue and
its DLQ set up like the template (a RedrivePolicy sending a message to the DLQ after
``MAX_RECEIVE_COUNT`` receives).

``create_collect_queues`` and ``pending`` take any SQS client: the in-process one here, moto
wherever a test needs AWS's own API (``tests/support/moto_server.py``), or a real one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from charlee_collector_tools.local.queue import REGION, InProcessSqs

COLLECT_QUEUE = "charlee-collector-collect"
MAX_RECEIVE_COUNT = 5  # the template's maxReceiveCount
# The poller makes a failed batch visible again itself and runs several batches at once, so the
# timeout must outlast the longest batch (the collector context's 900 s) or a slow batch's
# messages would be delivered a second time while it still runs.
LOCAL_VISIBILITY_TIMEOUT = 900
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


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
    """The in-process SQS service, and the queues created on it."""

    client: InProcessSqs
    queues: CollectQueues


@contextmanager
def local_sqs(*, visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT) -> Iterator[LocalSqs]:
    """The in-process SQS with the collect queue and DLQ; everything ends with the block.

    Any other AWS call the handlers make (Secrets Manager for a platform's credentials) goes to
    moto's in-process mock for the block, never to an AWS account.
    """
    from moto import mock_aws

    with mock_aws():
        client = InProcessSqs(region=os.environ.get("AWS_DEFAULT_REGION", REGION))
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
