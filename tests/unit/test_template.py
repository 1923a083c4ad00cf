"""template.yaml keeps the promises DESIGN.md makes: retries, least privilege, alarms, metrics."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from charlee_collector.observability.metrics import METRIC_NAMES, POWERTOOLS_METRICS
from tests.support import cfn_yaml

SETTINGS_SOURCE = Path(cfn_yaml.ROOT, "shared", "charlee_collector", "core", "settings.py").read_text()
FUNCTIONS = ("DispatcherFunction", "CollectorFunction", "MigrateFunction", "NotifierFunction")
SERVICES = {
    "DispatcherFunction": "charlee-dispatcher",
    "CollectorFunction": "charlee-collector",
    "NotifierFunction": "charlee-notifier",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load()


def resource(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def default(template: dict[str, Any], value: Any) -> Any:
    return cfn_yaml.resolve_defaults(template, value)


# --- functions and layer -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "code_uri", "handler"),
    [
        ("DispatcherFunction", "functions/dispatcher/", "dispatcher_handler.handler"),
        ("CollectorFunction", "functions/collector/", "collector_handler.handler"),
        ("MigrateFunction", "functions/migrate/", "migrate_handler.handler"),
        ("NotifierFunction", "functions/notifier/", "notifier_handler.handler"),
    ],
)
def test_functions_follow_the_contract(
    template: dict[str, Any], function: str, code_uri: str, handler: str
) -> None:
    props = cfn_yaml.function_properties(template, function)
    assert props["CodeUri"] == code_uri
    assert props["Handler"] == handler
    assert props["Runtime"] == "python3.12"
    assert props["Tracing"] == "Active"
    assert ref("SharedLayer") in props["Layers"]
    module = handler.split(".")[0]
    assert (cfn_yaml.ROOT / code_uri / f"{module}.py").is_file()


def test_layer_is_built_for_the_runtime(template: dict[str, Any]) -> None:
    layer = template["Resources"]["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "shared/"
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    # Built by shared/Makefile with python3.12 (the runtime provides boto3/botocore, so the layer drops them).
    assert layer["Metadata"]["BuildMethod"] == "makefile"
    assert "python3.12" in Path(cfn_yaml.ROOT, "shared", "Makefile").read_text()
    architectures = template["Globals"]["Function"]["Architectures"]
    assert layer["Properties"]["CompatibleArchitectures"] == architectures
    assert layer["Metadata"]["BuildArchitecture"] == architectures[0]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_functions_ship_bytecode_built_by_the_shared_makefile(
    template: dict[str, Any], function: str
) -> None:
    # SAM's python builder ships no bytecode; shared/Makefile compiles what the zip keeps valid.
    metadata = template["Resources"][function]["Metadata"]
    assert metadata == {"BuildMethod": "makefile", "ContextPath": "shared/"}
    makefile = Path(cfn_yaml.ROOT, "shared", "Makefile").read_text()
    assert re.search(rf"^build-[\w -]*\b{function}\b[\w -]*:", makefile, re.MULTILINE)
    assert "--invalidation-mode unchecked-hash" in makefile
    assert " -f " in makefile  # pip's timestamp pycs are rewritten, not kept


def test_snapstart_is_a_parameter_off_by_default(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "false"
    assert sorted(parameter["AllowedValues"]) == ["false", "true"]
    assert template["Conditions"]["SnapStartOn"] == {"Fn::Equals": [ref("SnapStart"), "true"]}
    # SAM takes AutoPublishAlias only as a string: the language extensions resolve the condition first.
    assert template["Transform"] == ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"]


def test_snapstart_publishes_an_alias_for_the_dispatcher_and_the_collector_only(
    template: dict[str, Any],
) -> None:
    no_value = ref("AWS::NoValue")
    for function in ("DispatcherFunction", "CollectorFunction"):
        props = resource(template, function)
        assert props["AutoPublishAlias"] == {"Fn::If": ["SnapStartOn", "live", no_value]}
        assert props["SnapStart"] == {"Fn::If": ["SnapStartOn", {"ApplyOn": "PublishedVersions"}, no_value]}
    # Runs once per deploy (DatabaseSchema): a snapshot would cost more than its one cold start.
    migrate = cfn_yaml.function_properties(template, "MigrateFunction")
    assert "AutoPublishAlias" not in migrate and "SnapStart" not in migrate


def test_functions_join_a_vpc_only_when_subnets_and_groups_are_given(template: dict[str, Any]) -> None:
    # DatabaseMode create puts them in the stack's own VPC (tests/unit/test_template_modes.py).
    vpc = template["Globals"]["Function"]["VpcConfig"]["Fn::If"]
    assert vpc[0] == "InVpc"
    assert vpc[1]["SubnetIds"]["Fn::If"][2] == ref("SubnetIds")
    assert vpc[1]["SecurityGroupIds"]["Fn::If"][2] == ref("SecurityGroupIds")
    assert vpc[2] == ref("AWS::NoValue")
    condition = str(template["Conditions"]["GivenVpc"])
    assert "SubnetIds" in condition and "SecurityGroupIds" in condition
    assert cfn_yaml.parameter_default(template, "SubnetIds") == ""


def environment(template: dict[str, Any], function: str) -> dict[str, Any]:
    return cfn_yaml.function_properties(template, function)["Environment"]["Variables"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_environment_names_are_ones_the_code_reads(template: dict[str, Any], function: str) -> None:
    env = environment(template, function)
    # Which secret each function logs in with, per mode: test_template_modes.py.
    assert env["DB_TLS"] == "true"
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == ref("MetricsNamespace")
    for name in env:
        if not name.startswith("POWERTOOLS_") and name != "LOG_LEVEL":
            assert f'"{name}"' in SETTINGS_SOURCE, f"{function} sets {name}, which settings.py never reads"


def test_each_function_names_its_service(template: dict[str, Any]) -> None:
    assert environment(template, "DispatcherFunction")["COLLECT_QUEUE_URL"] == ref("CollectQueue")
    for function, service in SERVICES.items():
        assert environment(template, function)["POWERTOOLS_SERVICE_NAME"] == service


# --- queues --------------------------------------------------------------------------------


def test_collect_queue_outlasts_six_collector_timeouts(template: dict[str, Any]) -> None:
    timeout = cfn_yaml.function_properties(template, "CollectorFunction")["Timeout"]
    assert resource(template, "CollectQueue")["VisibilityTimeout"] >= 6 * timeout


def test_collect_queue_redrives_to_its_dlq_after_enough_tries(template: dict[str, Any]) -> None:
    redrive = resource(template, "CollectQueue")["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["CollectDLQ", "Arn"]}
    assert default(template, redrive["maxReceiveCount"]) >= 5
    assert resource(template, "CollectDLQ")["MessageRetentionPeriod"] == 1209600


def test_queues_are_encrypted(template: dict[str, Any]) -> None:
    queues = cfn_yaml.resources(template, "AWS::SQS::Queue")
    assert set(queues) == {
        "CollectQueue",
        "CollectDLQ",
        "ScheduleDLQ",
        "NotificationsQueue",
        "NotificationsDLQ",
        "WebhookDLQ",
    }
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


def test_collector_reports_partial_batch_failures_with_bounded_concurrency(template: dict[str, Any]) -> None:
    (event,) = resource(template, "CollectorFunction")["Events"].values()
    assert event["Type"] == "SQS"
    props = event["Properties"]
    assert props["Queue"] == {"Fn::GetAtt": ["CollectQueue", "Arn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BatchSize"] == ref("CollectorBatchSize")
    assert props["ScalingConfig"]["MaximumConcurrency"] == ref("CollectorMaxConcurrency")
    concurrency = template["Parameters"]["CollectorMaxConcurrency"]
    assert concurrency["MinValue"] >= 2  # SQS's lower bound for MaximumConcurrency
    assert concurrency["Default"] == 5


def test_a_failed_schedule_tick_is_not_silent(template: dict[str, Any]) -> None:
    dispatcher = resource(template, "DispatcherFunction")
    (event,) = dispatcher["Events"].values()
    assert event["Type"] in {"Schedule", "ScheduleV2"}
    props = event["Properties"]
    assert props["Schedule" if event["Type"] == "Schedule" else "ScheduleExpression"] == ref(
        "ScheduleExpression"
    )
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert props["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["ScheduleDLQ", "Arn"]}
    # Ticks that reach the function but fail after Lambda's own retries go to the same queue.
    assert dispatcher["DeadLetterQueue"]["TargetArn"] == {"Fn::GetAtt": ["ScheduleDLQ", "Arn"]}
    # EventBridge may write to the queue, and only this rule may.
    (statement,) = resource(template, "ScheduleDLQPolicy")["PolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    source_arn = statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::Sub"]
    assert source_arn.endswith(":rule/" + props["Name"]["Fn::Sub"])


# --- permissions ---------------------------------------------------------------------------


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement anywhere under ``node`` (roles, SAM Policies, queue and topic policies),
    both branches of a statement some condition decides (Fn::If)."""
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            for statement in node["Statement"]:
                if set(statement) == {"Fn::If"}:
                    yield from (b for b in statement["Fn::If"][1:] if b != {"Ref": "AWS::NoValue"})
                else:
                    yield statement
        elif isinstance(node.get("Statement"), dict):
            yield node["Statement"]
        for value in node.values():
            yield from statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from statements(value)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_no_statement_grants_a_wildcard_action(template: dict[str, Any]) -> None:
    found = list(statements(template["Resources"]))
    assert len(found) >= 10
    for statement in found:
        assert "NotAction" not in statement, statement
        for action in as_list(statement["Action"]):
            assert isinstance(action, str) and "*" not in action, statement


NETWORK_INTERFACE_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def test_only_actions_without_resource_level_permissions_use_resource_star(template: dict[str, Any]) -> None:
    resource_free = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", *NETWORK_INTERFACE_ACTIONS}
    for statement in statements(template["Resources"]):
        if statement.get("Effect") == "Deny":
            continue  # a refusal on "*" widens nothing
        if "*" in as_list(statement.get("Resource")):
            assert set(as_list(statement["Action"])) <= resource_free, statement


def test_functions_use_their_own_roles(template: dict[str, Any]) -> None:
    for function in FUNCTIONS:
        props = resource(template, function)
        role = props["Role"]["Fn::GetAtt"][0]
        assert template["Resources"][role]["Type"] == "AWS::IAM::Role"
        assert "Policies" not in props  # SAM would add its own (broader) managed policies


def role_actions(template: dict[str, Any], role: str) -> dict[str, list[Any]]:
    """action -> the resources a role grants it on."""
    granted: dict[str, list[Any]] = {}
    for statement in statements(resource(template, role)["Policies"]):
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def test_only_the_collector_writes_secrets_and_only_oauth_grants(template: dict[str, Any]) -> None:
    # Rotated OAuth2 tokens are written back: the stack's oauth/ folder only, by the collector only
    # (what it may read is held per mode: test_template_modes.py).
    (oauth,) = role_actions(template, "CollectorRole")["secretsmanager:PutSecretValue"]
    assert oauth["Fn::Sub"].endswith(":secret:charlee/${AWS::StackName}/oauth/*")
    for role in ("DispatcherRole", "MigrateRole"):
        assert "secretsmanager:PutSecretValue" not in role_actions(template, role)


def test_queue_permissions_are_scoped_to_the_queues(template: dict[str, Any]) -> None:
    collect_queue = {"Fn::GetAtt": ["CollectQueue", "Arn"]}
    dispatcher = role_actions(template, "DispatcherRole")
    assert collect_queue in dispatcher["sqs:SendMessage"]
    collector = role_actions(template, "CollectorRole")
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert collector[action] == [collect_queue]
    assert "sqs:SendMessage" not in collector


# --- logs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "role"),
    [
        ("DispatcherFunction", "DispatcherRole"),
        ("CollectorFunction", "CollectorRole"),
        ("MigrateFunction", "MigrateRole"),
        ("NotifierFunction", "NotifierRole"),
    ],
)
def test_each_function_logs_to_its_own_group_with_retention(
    template: dict[str, Any], function: str, role: str
) -> None:
    group = resource(template, function)["LoggingConfig"]["LogGroup"]["Ref"]
    assert template["Resources"][group]["Type"] == "AWS::Logs::LogGroup"
    assert resource(template, group)["RetentionInDays"] == ref("LogRetentionDays")
    assert role_actions(template, role)["logs:PutLogEvents"] == [{"Fn::GetAtt": [group, "Arn"]}]
    assert "logs:CreateLogGroup" not in role_actions(template, role)


# --- alarms --------------------------------------------------------------------------------


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in cfn_yaml.resources(template, "AWS::CloudWatch::Alarm").items()}


def find_alarm(template: dict[str, Any], namespace: Any, metric: str, **dimensions: Any) -> dict[str, Any]:
    """The one alarm on ``metric`` with exactly these dimensions."""
    found = [
        props
        for props in alarms(template).values()
        if props.get("Namespace") == namespace
        and props.get("MetricName") == metric
        and {d["Name"]: d["Value"] for d in props.get("Dimensions", [])} == dimensions
    ]
    assert len(found) == 1, f"expected one alarm on {metric} {dimensions}, found {len(found)}"
    return found[0]


def schedule_seconds(template: dict[str, Any]) -> int:
    """The default schedule's period, read from the default ScheduleExpression."""
    expression = cfn_yaml.parameter_default(template, "ScheduleExpression")
    number, unit = re.fullmatch(r"rate\((\d+) (minutes?|hours?)\)", expression).groups()  # type: ignore[union-attr]
    return int(number) * (60 if unit.startswith("minute") else 3600)


def test_schedule_minutes_matches_the_schedule_expression(template: dict[str, Any]) -> None:
    assert int(cfn_yaml.parameter_default(template, "ScheduleMinutes")) * 60 == schedule_seconds(template)
    allowed = {str(v) for v in template["Parameters"]["ScheduleMinutes"]["AllowedValues"]}
    table = template["Mappings"]["SchedulePeriod"]
    assert set(table) == allowed
    for minutes, row in table.items():
        assert row["Seconds"] == int(minutes) * 60
        assert row["TwiceSeconds"] == 2 * row["Seconds"]
        assert row["MaxEventAgeSeconds"] == min(row["Seconds"], 21600)


def test_every_alarm_notifies_the_alarm_topic(template: dict[str, Any]) -> None:
    assert len(alarms(template)) >= 10
    for alarm_id, props in alarms(template).items():
        assert ref("AlarmTopic") in props["AlarmActions"], alarm_id
        assert props.get("AlarmDescription"), alarm_id


def test_alarm_mail_is_subscribed_only_when_an_address_is_given(template: dict[str, Any]) -> None:
    assert cfn_yaml.parameter_default(template, "AlarmEmail") == ""
    subscriptions = cfn_yaml.resources(template, "AWS::SNS::Subscription")
    assert len(subscriptions) == 1
    (subscription,) = subscriptions.values()
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == ref("AlarmEmail")
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]}


@pytest.mark.parametrize("dlq", ["CollectDLQ", "ScheduleDLQ"])
def test_a_message_in_a_dead_letter_queue_alarms(template: dict[str, Any], dlq: str) -> None:
    name = {"Fn::GetAtt": [dlq, "QueueName"]}
    alarm = find_alarm(template, "AWS/SQS", "ApproximateNumberOfMessagesVisible", QueueName=name)
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)


def test_queue_age_alarms_past_two_schedule_periods(template: dict[str, Any]) -> None:
    name = {"Fn::GetAtt": ["CollectQueue", "QueueName"]}
    alarm = find_alarm(template, "AWS/SQS", "ApproximateAgeOfOldestMessage", QueueName=name)
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert default(template, alarm["Threshold"]) == 2 * schedule_seconds(template)


@pytest.mark.parametrize("function", ["CollectorFunction", "DispatcherFunction"])
@pytest.mark.parametrize("metric", ["Errors", "Throttles"])
def test_errors_and_throttles_alarm(template: dict[str, Any], function: str, metric: str) -> None:
    alarm = find_alarm(template, "AWS/Lambda", metric, FunctionName=ref(function))
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["Statistic"]) == (
        "GreaterThanThreshold",
        0,
        "Sum",
    )


def test_a_missed_schedule_alarms(template: dict[str, Any]) -> None:
    alarm = find_alarm(template, "AWS/Lambda", "Invocations", FunctionName=ref("DispatcherFunction"))
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("LessThanThreshold", 1)
    assert alarm["TreatMissingData"] == "breaching"
    window = default(template, alarm["Period"]) * alarm["EvaluationPeriods"]
    assert window == 2 * schedule_seconds(template)
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]


def test_failing_and_paused_platforms_alarm(template: dict[str, Any]) -> None:
    namespace = ref("MetricsNamespace")
    failed = find_alarm(template, namespace, "CollectionFailed", service="charlee-collector")
    assert failed["Threshold"] == ref("CollectionFailureThreshold")
    assert failed["ComparisonOperator"] == "GreaterThanThreshold"
    paused = find_alarm(template, namespace, "PlatformsPaused", service="charlee-collector")
    assert (paused["ComparisonOperator"], paused["Threshold"]) == ("GreaterThanThreshold", 0)


def test_a_silent_source_alarms(template: dict[str, Any]) -> None:
    # PlatformsSilent is a gauge from each scheduled tick: any silent platform alarms, and the
    # window spans two ticks, so it always holds a value while the schedule runs.
    alarm = find_alarm(template, ref("MetricsNamespace"), "PlatformsSilent", service="charlee-dispatcher")
    assert alarm["Statistic"] == "Maximum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert default(template, alarm["Period"]) * alarm["EvaluationPeriods"] == 2 * schedule_seconds(template)


def test_collector_p95_duration_alarms_at_80_percent_of_its_timeout(template: dict[str, Any]) -> None:
    alarm = find_alarm(template, "AWS/Lambda", "Duration", FunctionName=ref("CollectorFunction"))
    timeout_ms = cfn_yaml.function_properties(template, "CollectorFunction")["Timeout"] * 1000
    assert alarm["ExtendedStatistic"] == "p95"
    assert alarm["Threshold"] == pytest.approx(0.8 * timeout_ms)


# --- metrics and dashboard -----------------------------------------------------------------


def test_dashboard_and_alarms_read_exactly_the_metrics_the_code_emits(template: dict[str, Any]) -> None:
    names = {name for name, _dims in cfn_yaml.custom_metrics(template)}
    assert names == METRIC_NAMES | POWERTOOLS_METRICS


def test_custom_metric_dimensions_are_the_ones_powertools_attaches(template: dict[str, Any]) -> None:
    # Powertools EMF: every metric gets `service` (POWERTOOLS_SERVICE_NAME); ColdStart gets
    # `function_name` too. Any other dimension would name a series nobody emits.
    for name, dims in cfn_yaml.custom_metrics(template):
        found = dict(dims)
        service = found.pop("service")
        assert service in SERVICES.values(), (name, service)
        if name in POWERTOOLS_METRICS:
            function = found.pop("function_name").strip("<>")
            assert SERVICES[function] == service, (name, function, service)
        assert not found, f"{name} has dimensions Powertools does not attach: {found}"


def test_the_dashboard_shows_alert_latency_per_source(template: dict[str, Any]) -> None:
    # observability.metrics.publish_by_source emits AlertLatency with `service` and `source`: the
    # widget searches exactly that dimension set, so every source gets its own p95 line.
    expressions = [
        entry["expression"]
        for widget in widgets(template)
        for line in widget.get("properties", {}).get("metrics", [])
        for entry in line
        if isinstance(entry, dict) and "expression" in entry
    ]
    assert any(
        "{<MetricsNamespace>,service,source}" in e.replace("${MetricsNamespace}", "<MetricsNamespace>")
        and 'MetricName="AlertLatency"' in e
        and "'p95'" in e
        for e in expressions
    ), expressions


NOTIFIER_METRICS = {"AlertsSent", "AlertMessagesSent", "AlertRulesDisabled", "AlertLatency"}


def test_dispatch_metrics_belong_to_the_dispatcher_and_the_rest_to_the_collector(
    template: dict[str, Any],
) -> None:
    dispatcher = {
        "PlatformsDue",
        "PlatformsDispatched",
        "DispatchFailures",
        "OutboxOldestPendingAge",
        "PlatformsSilent",
        "EventsDeadLettered",  # a row ends on a tick: the collector makes only the first attempt
    }
    both = {"EventsPublished", "EventsFailed"}  # the collector after its commit, the dispatcher's tick
    seen: dict[str, set[str]] = {}
    for name, dims in cfn_yaml.custom_metrics(template):
        if name in POWERTOOLS_METRICS:
            continue
        seen.setdefault(name, set()).add(dict(dims)["service"])
    for name, services in seen.items():
        if name in both:
            assert services == {"charlee-collector", "charlee-dispatcher"}, name
        else:
            expected = "charlee-dispatcher" if name in dispatcher else "charlee-collector"
            if name in NOTIFIER_METRICS:
                expected = "charlee-notifier"
            assert services == {expected}, name


def widgets(template: dict[str, Any]) -> list[dict[str, Any]]:
    return cfn_yaml.dashboard_body(template)["widgets"]


def test_dashboard_shows_duration_against_the_timeout(template: dict[str, Any]) -> None:
    timeout_ms = cfn_yaml.function_properties(template, "CollectorFunction")["Timeout"] * 1000
    (widget,) = [
        w
        for w in widgets(template)
        if [p for p in w["properties"].get("metrics", [[]])[0] if not isinstance(p, dict)]
        == ["AWS/Lambda", "Duration", "FunctionName", "<CollectorFunction>"]
    ]
    stats = {line[-1]["stat"] for line in widget["properties"]["metrics"]}
    assert stats == {"p50", "p95", "Maximum"}
    marks = {a["value"] for a in widget["properties"]["annotations"]["horizontal"]}
    assert timeout_ms in marks


def test_dashboard_shows_aws_metrics_for_queues_and_functions(template: dict[str, Any]) -> None:
    shown = {(ns, name) for ns, name, _dims in cfn_yaml.dashboard_metrics(cfn_yaml.dashboard_body(template))}
    for metric in [
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
    ]:
        assert metric in shown


def test_dashboard_lists_failed_collections_from_the_collector_logs(template: dict[str, Any]) -> None:
    (log,) = [w for w in widgets(template) if w["type"] == "log"]
    query = log["properties"]["query"]
    assert query.startswith("SOURCE '<CollectorLogGroup>'")
    for field in ("platform_id", "error", "outcome = 'failed'"):
        assert field in query


def test_dashboard_widgets_fit_the_grid(template: dict[str, Any]) -> None:
    for widget in widgets(template):
        assert widget["x"] + widget["width"] <= 24
        assert widget["properties"].get("region") in (None, "us-east-1")


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "CollectQueueUrl",
        "CollectQueueArn",
        "CollectDLQUrl",
        "DispatcherFunctionName",
        "CollectorFunctionName",
        "MigrateFunctionName",
        "DashboardUrl",
    } <= set(template["Outputs"])


def test_the_notifier_batches_a_minute_of_events_and_reports_partial_failures(
    template: dict[str, Any],
) -> None:
    props = resource(template, "NotifierFunction")
    assert template["Resources"]["NotifierFunction"]["Condition"] == "NotificationsOn"
    event = props["Events"]["Notify"]
    assert event["Type"] == "SQS"
    mapping = event["Properties"]
    assert mapping["Queue"] == {"Fn::GetAtt": ["NotificationsQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumBatchingWindowInSeconds"] == 60  # a burst is one message
    queue = resource(template, "NotificationsQueue")
    assert queue["VisibilityTimeout"] >= 6 * props["Timeout"] + mapping["MaximumBatchingWindowInSeconds"]


def test_the_notifier_looks_for_due_digests_every_15_minutes(template: dict[str, Any]) -> None:
    digests = resource(template, "NotifierFunction")["Events"]["Digests"]
    assert digests["Type"] == "Schedule"
    assert digests["Properties"]["Schedule"] == "rate(15 minutes)"
    assert digests["Properties"]["State"] == "ENABLED"


def test_the_notifier_reads_only_alert_secrets_and_sends_only_email(template: dict[str, Any]) -> None:
    granted = role_actions(template, "NotifierRole")
    secrets = [r for r in granted["secretsmanager:GetSecretValue"] if isinstance(r, dict) and "Fn::Sub" in r]
    assert [r["Fn::Sub"].rsplit(":secret:", 1)[1] for r in secrets] == ["charlee/${AWS::StackName}/alerts/*"]
    assert granted["ses:SendEmail"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"}
    ]
    assert granted["sqs:ReceiveMessage"] == [{"Fn::GetAtt": ["NotificationsQueue", "Arn"]}]
    assert "secretsmanager:PutSecretValue" not in granted and "events:PutEvents" not in granted


def test_a_disabled_alert_rule_alarms(template: dict[str, Any]) -> None:
    alarm = find_alarm(template, ref("MetricsNamespace"), "AlertRulesDisabled", service="charlee-notifier")
    assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
