"""template.yaml's events part (DESIGN section 9): the bus, who may publish, the subscribers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from charlee_collector.app.webhook_text import webhook_body
from tests.support import cfn_yaml
from tests.unit.test_template import default, environment, find_alarm, resource, role_actions, widgets

BUS_ARN = {"Fn::GetAtt": ["CollectorEventBus", "Arn"]}
PATTERN = {"source": ["charlee.collector"], "detail-type": ["OpportunitiesCollected"]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load()


def test_the_stack_creates_its_bus_and_names_it_in_the_outputs(template: dict[str, Any]) -> None:
    assert template["Resources"]["CollectorEventBus"]["Type"] == "AWS::Events::EventBus"
    outputs = template["Outputs"]
    assert outputs["EventBusName"]["Value"] == {"Ref": "CollectorEventBus"}
    assert outputs["EventBusArn"]["Value"] == BUS_ARN


@pytest.mark.parametrize("function", ["CollectorFunction", "DispatcherFunction"])
def test_the_publishers_know_the_bus(template: dict[str, Any], function: str) -> None:
    assert environment(template, function)["EVENT_BUS_NAME"] == {"Ref": "CollectorEventBus"}


def test_only_the_collector_and_dispatcher_may_put_events_and_only_on_the_bus(
    template: dict[str, Any],
) -> None:
    for role in ("CollectorRole", "DispatcherRole"):
        assert role_actions(template, role)["events:PutEvents"] == [BUS_ARN]
    assert "events:PutEvents" not in role_actions(template, "MigrateRole")


def test_notifications_rule_feeds_the_queue_with_a_dead_letter_queue(template: dict[str, Any]) -> None:
    rule = resource(template, "NotificationsRule")
    assert rule["EventBusName"] == {"Ref": "CollectorEventBus"}
    assert rule["EventPattern"] == PATTERN
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["NotificationsDLQ", "Arn"]}
    redrive = resource(template, "NotificationsQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["NotificationsDLQ", "Arn"]}
    # Only this rule may send into the two queues.
    (statement,) = resource(template, "NotificationsQueuePolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnEquals"]["aws:SourceArn"] == {
        "Fn::GetAtt": ["NotificationsRule", "Arn"]
    }


def test_a_parameter_turns_the_default_subscriber_off(template: dict[str, Any]) -> None:
    assert template["Parameters"]["NotificationsSubscriber"]["Default"] == "true"
    assert template["Conditions"]["NotificationsOn"] == {
        "Fn::Equals": [{"Ref": "NotificationsSubscriber"}, "true"]
    }
    for logical_id in (
        "NotificationsQueue",
        "NotificationsDLQ",
        "NotificationsRule",
        "NotificationsQueuePolicy",
    ):
        assert template["Resources"][logical_id]["Condition"] == "NotificationsOn"


WEBHOOK_RESOURCES = (
    "WebhookConnection",
    "WebhookDestination",
    "WebhookRule",
    "WebhookDLQ",
    "WebhookDLQPolicy",
    "WebhookRole",
    "WebhookDLQNotEmptyAlarm",
)


def test_the_webhook_is_optional_and_its_url_a_secret(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["EventsWebhookUrl"]
    assert parameter["NoEcho"] is True and parameter["Default"] == ""
    for logical_id in WEBHOOK_RESOURCES:
        assert template["Resources"][logical_id]["Condition"] == "HasWebhook"
    # The URL reaches the API destination only: no output, no environment variable, no tag.
    uses = [path for path in _paths_to(template, {"Ref": "EventsWebhookUrl"}) if path[0] != "Conditions"]
    assert uses == [("Resources", "WebhookDestination", "Properties", "InvocationEndpoint")]
    assert "${EventsWebhookUrl}" not in json.dumps(template)  # nor inside a Fn::Sub


def test_the_api_destination_posts_the_summary_with_retries_and_a_dlq(template: dict[str, Any]) -> None:
    destination = resource(template, "WebhookDestination")
    assert destination["HttpMethod"] == "POST"
    rule = resource(template, "WebhookRule")
    assert rule["EventPattern"] == PATTERN
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": ["WebhookDestination", "Arn"]}
    assert target["InputTransformer"]["InputPathsMap"] == {
        "summary": "$.detail.summary",
        "summary_slack": "$.detail.summary_slack",
    }
    slack, other = target["InputTransformer"]["InputTemplate"]["Fn::If"][1:]
    discord, text = other["Fn::If"][1:]
    # Placed unquoted: EventBridge writes each as a JSON string, quoted and escaped. The bodies
    # are the ones the local bus posts (app/webhook_text.webhook_body), for the same detail.
    detail = {
        "summary": "1 new on F: <!channel> & co",
        "summary_slack": "1 new on F: &lt;!channel&gt; &amp; co",
    }

    def placed(template_text: str) -> Any:
        for name, value in detail.items():
            template_text = template_text.replace(f"<{name}>", json.dumps(value))
        return json.loads(template_text)

    assert placed(slack) == json.loads(webhook_body(detail, "slack")[0])
    assert placed(discord) == json.loads(webhook_body(detail, "discord")[0])
    assert placed(discord)["allowed_mentions"] == {"parse": []}
    assert text == "<summary>"
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
    assert target["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["WebhookDLQ", "Arn"]}
    # The rule's role may invoke this destination and nothing else.
    (statement,) = resource(template, "WebhookRole")["Policies"][0]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == (
        "events:InvokeApiDestination",
        {"Fn::GetAtt": ["WebhookDestination", "Arn"]},
    )


def test_events_pending_past_two_schedule_periods_alarm(template: dict[str, Any]) -> None:
    alarm = find_alarm(
        template, {"Ref": "MetricsNamespace"}, "OutboxOldestPendingAge", service="charlee-dispatcher"
    )
    two_periods = default(
        template, {"Fn::FindInMap": ["SchedulePeriod", {"Ref": "ScheduleMinutes"}, "TwiceSeconds"]}
    )
    assert default(template, alarm["Threshold"]) == two_periods == 1800
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"


@pytest.mark.parametrize("dlq", ["NotificationsDLQ", "WebhookDLQ"])
def test_an_undelivered_event_alarms(template: dict[str, Any], dlq: str) -> None:
    name = {"Fn::GetAtt": [dlq, "QueueName"]}
    alarm = find_alarm(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=name)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_the_dashboard_shows_the_events_and_the_outbox_age(template: dict[str, Any]) -> None:
    shown = {
        (name, dims.get("service"))
        for _ns, name, dims in cfn_yaml.dashboard_metrics(cfn_yaml.dashboard_body(template))
    }
    for service in ("charlee-collector", "charlee-dispatcher"):
        assert ("EventsPublished", service) in shown and ("EventsFailed", service) in shown
    assert ("OutboxOldestPendingAge", "charlee-dispatcher") in shown
    (age,) = [w for w in widgets(template) if "Outbox" in w["properties"].get("title", "")]
    assert {a["value"] for a in age["properties"]["annotations"]["horizontal"]} == {1800}


def _paths_to(node: Any, wanted: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if node == wanted:
        return [path]
    if isinstance(node, dict):
        return [p for key, value in node.items() for p in _paths_to(value, wanted, (*path, str(key)))]
    if isinstance(node, list):
        return [p for n, value in enumerate(node) for p in _paths_to(value, wanted, (*path, str(n)))]
    return []
