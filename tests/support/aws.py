"""In-process moto SQS: the collect queue and its DLQ, configured like template.yaml."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

MAX_RECEIVE_COUNT = 5  # template.yaml's MaxReceiveCount default


@dataclass
class Queues:
    """The moto SQS client, the collect queue and its DLQ."""

    sqs: Any
    url: str
    dlq_url: str

    def receive_all(self, url: str | None = None, *, max_rounds: int = 200) -> list[dict[str, Any]]:
        """Every visible message of a queue (received, so they turn invisible)."""
        messages: list[dict[str, Any]] = []
        for _ in range(max_rounds):
            batch = self.sqs.receive_message(
                QueueUrl=url or self.url,
                MaxNumberOfMessages=10,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
        return messages

    def depth(self, url: str | None = None) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, so nothing can reach real AWS."""
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "CharleeCollectorTest",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def queues(aws_env: None) -> Iterator[Queues]:
    """A mocked collect queue with a DLQ after MAX_RECEIVE_COUNT receives (tests redeliver by
    setting a failed message's visibility to 0, as the timeout running out would)."""
    with mock_aws():
        sqs = boto3.client("sqs", region_name=os.environ["AWS_DEFAULT_REGION"])
        dlq_url = sqs.create_queue(QueueName="collect-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        url = sqs.create_queue(
            QueueName="collect",
            Attributes={
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}
                ),
            },
        )["QueueUrl"]
        yield Queues(sqs=sqs, url=url, dlq_url=dlq_url)
