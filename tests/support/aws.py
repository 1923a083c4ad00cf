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


# --- EventBridge: the stack's bus with the template's rule into a queue ------------------------


@dataclass
class Bus:
    """A moto event bus whose rule (the template's NotificationsRule pattern) feeds ``target_url``."""

    client: Any
    name: str
    arn: str
    sqs: Any
    target_url: str

    def delivered(self) -> list[dict[str, Any]]:
        """Every event the rule delivered so far (EventBridge envelopes), received once."""
        queues = Queues(self.sqs, self.target_url, self.target_url)
        return [json.loads(m["Body"]) for m in queues.receive_all(max_rounds=1000)]


def notifications_pattern() -> dict[str, Any]:
    """The EventPattern of template.yaml's NotificationsRule: the subscription under test."""
    from tests.support import cfn_yaml

    pattern: dict[str, Any] = cfn_yaml.load()["Resources"]["NotificationsRule"]["Properties"]["EventPattern"]
    return pattern


@pytest.fixture
def event_bus(queues: Queues, monkeypatch: pytest.MonkeyPatch) -> Bus:
    """The stack's bus in moto, EVENT_BUS_NAME pointing at it, a rule into a notifications queue."""
    events = boto3.client("events", region_name=os.environ["AWS_DEFAULT_REGION"])
    name = "charlee-collector-events"
    arn = events.create_event_bus(Name=name)["EventBusArn"]
    # Long visibility: a test reads each delivered event once, however slow moto is.
    target_url = queues.sqs.create_queue(QueueName="notifications", Attributes={"VisibilityTimeout": "3600"})[
        "QueueUrl"
    ]
    target_arn = queues.sqs.get_queue_attributes(QueueUrl=target_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(Name="collected", EventBusName=name, EventPattern=json.dumps(notifications_pattern()))
    events.put_targets(
        Rule="collected", EventBusName=name, Targets=[{"Id": "notifications", "Arn": target_arn}]
    )
    monkeypatch.setenv("EVENT_BUS_NAME", name)
    return Bus(events, name, arn, queues.sqs, target_url)
