"""template.yaml's database modes, resolved one deployment at a time (tests/support/cfn_conditions).

Each of DatabaseMode existing/create, with DatabaseProxy off and on (and an existing database in
and out of a VPC), must give every function the database and the network it needs, open 5432 to
nobody but the functions (or the proxy), let only the roles that need it read the database
secret, and have the schema custom resource come after everything the migration needs and
before anything that reads the schema.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import cfn_yaml
from tests.support.cfn_conditions import Stack, dependencies, references

FUNCTIONS = ("DispatcherFunction", "CollectorFunction", "MigrateFunction", "NotifierFunction")
ROLES = {
    "DispatcherFunction": "DispatcherRole",
    "CollectorFunction": "CollectorRole",
    "MigrateFunction": "MigrateRole",
    "NotifierFunction": "NotifierRole",
}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/db-AbCdEf"
APP_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/db-app-AbCdEf"
CREATED_SECRET = {"Fn::GetAtt": ["DBCluster", "MasterUserSecret.SecretArn"]}
CREATED_APP_SECRET = {"Ref": "AppDatabaseSecret"}
NETWORK_INTERFACE_ACTIONS = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}

DEPLOYMENTS: dict[str, dict[str, str]] = {
    "existing-public": {"DatabaseSecretArn": SECRET},
    "existing-vpc": {
        "DatabaseSecretArn": SECRET,
        "SubnetIds": "subnet-1,subnet-2",
        "SecurityGroupIds": "sg-1",
    },
    "existing-vpc-proxy": {
        "DatabaseSecretArn": SECRET,
        "SubnetIds": "subnet-1,subnet-2",
        "SecurityGroupIds": "sg-1",
        "DatabaseProxy": "true",
        "ExistingDBInstanceIdentifier": "charlee-db",
    },
    "existing-vpc-proxy-app-role": {
        "DatabaseSecretArn": SECRET,
        "AppDatabaseSecretArn": APP_SECRET,
        "SubnetIds": "subnet-1,subnet-2",
        "SecurityGroupIds": "sg-1",
        "DatabaseProxy": "true",
        "ExistingDBInstanceIdentifier": "charlee-db",
    },
    "create": {"DatabaseMode": "create"},
    "create-proxy": {"DatabaseMode": "create", "DatabaseProxy": "true"},
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return cfn_yaml.load()


@pytest.fixture(params=list(DEPLOYMENTS), scope="module")
def stack(request: pytest.FixtureRequest, template: dict[str, Any]) -> Stack:
    return Stack(template, DEPLOYMENTS[request.param])


def creates(stack: Stack) -> bool:
    return stack.parameters["DatabaseMode"] == "create"


def proxied(stack: Stack) -> bool:
    return stack.parameters["DatabaseProxy"] == "true"


def in_vpc(stack: Stack) -> bool:
    return creates(stack) or stack.parameters["SubnetIds"] != [""]


def master_secret(stack: Stack) -> Any:
    return CREATED_SECRET if creates(stack) else SECRET


def app_secret(stack: Stack) -> Any:
    """The secret the dispatcher and the collector log in with: the application role's where the
    deployment has one, else (an existing database left as it was) the master's."""
    if creates(stack):
        return CREATED_APP_SECRET
    return stack.parameters["AppDatabaseSecretArn"] or SECRET


def test_the_resolver_reads_the_modes(template: dict[str, Any]) -> None:
    existing = Stack(template, DEPLOYMENTS["existing-public"])
    assert not existing.holds("CreateDatabase") and not existing.holds("InVpc")
    assert "DBCluster" not in existing.resources and "Vpc" not in existing.resources
    created = Stack(template, DEPLOYMENTS["create-proxy"])
    assert created.holds("CreateDatabaseWithProxy") and created.holds("InVpc")
    assert {"Vpc", "NatGateway", "DBCluster", "DBWriter", "DBProxy"} <= set(created.resources)
    assert Stack(template, DEPLOYMENTS["existing-vpc"]).holds("GivenVpc")
    with pytest.raises(KeyError):
        Stack(template, {"NoSuchParameter": "x"})


def test_no_resource_refers_to_one_this_deployment_does_not_create(stack: Stack) -> None:
    known = set(stack.resources) | set(stack.parameters) | set(stack.template.get("Mappings", {}))
    for logical_id, resource in stack.resources.items():
        body = stack.function(logical_id) if resource["Type"] == "AWS::Serverless::Function" else resource
        for name in references(body):
            assert name.startswith("AWS::") or name in known, f"{logical_id} refers to {name}"
    for name, output in stack.outputs.items():
        for ref in references(output):
            assert ref.startswith("AWS::") or ref in known, f"output {name} refers to {ref}"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_the_database_it_needs(stack: Stack, function: str) -> None:
    env = stack.function(function)["Environment"]["Variables"]
    assert env["DB_TLS"] == "true"
    if function == "MigrateFunction":
        assert env["DB_SECRET_ARN"] == master_secret(stack)
        has_app_role = creates(stack) or stack.parameters["AppDatabaseSecretArn"]
        assert env["APP_DB_SECRET_ARN"] == (app_secret(stack) if has_app_role else "")
    else:
        assert env["DB_SECRET_ARN"] == app_secret(stack)
    if creates(stack):
        assert env["DB_NAME"] == stack.resources["DBCluster"]["Properties"]["DatabaseName"] == "charlee"
    else:
        assert env["DB_NAME"] == ""  # the secret's dbname
    if proxied(stack):
        assert env["DB_HOST"] == {"Fn::GetAtt": ["DBProxy", "Endpoint"]}
    elif creates(stack):
        assert env["DB_HOST"] == {"Fn::GetAtt": ["DBCluster", "Endpoint.Address"]}
    else:
        assert env["DB_HOST"] == ""  # the secret's host
    # A paused Aurora holds the connect while it resumes: the timeout outlasts AWS's ~15 s.
    assert float(env["DB_CONNECT_TIMEOUT"]) >= (30 if creates(stack) else 10)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_has_the_network_it_needs(stack: Stack, function: str) -> None:
    props = stack.function(function)
    role = stack.resources[ROLES[function]]["Properties"]
    if not in_vpc(stack):
        assert "VpcConfig" not in props
        assert "ManagedPolicyArns" not in role
        return
    vpc = props["VpcConfig"]
    if creates(stack):
        assert vpc == {
            "SubnetIds": [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}],
            "SecurityGroupIds": [{"Ref": "FunctionSecurityGroup"}],
        }
        # Both subnets route out through the NAT gateway (the collector fetches the internet).
        routes = {
            r["Properties"]["SubnetId"]["Ref"]: r["Properties"]["RouteTableId"]
            for r in of_type(stack, "AWS::EC2::SubnetRouteTableAssociation")
        }
        assert routes["PrivateSubnetA"] == routes["PrivateSubnetB"] == {"Ref": "PrivateRouteTable"}
        (default_route,) = [
            r["Properties"]
            for r in of_type(stack, "AWS::EC2::Route")
            if r["Properties"]["RouteTableId"] == {"Ref": "PrivateRouteTable"}
        ]
        assert default_route["DestinationCidrBlock"] == "0.0.0.0/0"
        assert default_route["NatGatewayId"] == {"Ref": "NatGateway"}
        zones = {
            stack.resources[s]["Properties"]["AvailabilityZone"]["Fn::Select"][0]
            for s in ("PrivateSubnetA", "PrivateSubnetB")
        }
        assert zones == {0, 1}  # two availability zones
    else:
        assert vpc == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-1"]}
    # The network-interface actions alone: AWSLambdaVPCAccessExecutionRole adds logs on "*".
    assert role["ManagedPolicyArns"] == [{"Ref": "FunctionNetworkInterfaces"}]
    (statement,) = stack.resources["FunctionNetworkInterfaces"]["Properties"]["PolicyDocument"]["Statement"]
    assert (statement["Effect"], set(statement["Action"])) == ("Allow", NETWORK_INTERFACE_ACTIONS)


def of_type(stack: Stack, kind: str) -> list[dict[str, Any]]:
    return [r for r in stack.resources.values() if r["Type"] == kind]


def ingress_rules(stack: Stack) -> list[tuple[str, dict[str, Any]]]:
    """(the group's logical id, rule) for every inbound rule, inline or its own resource."""
    rules = []
    for logical_id, resource in stack.resources.items():
        if resource["Type"] == "AWS::EC2::SecurityGroup":
            rules += [(logical_id, rule) for rule in resource["Properties"].get("SecurityGroupIngress", [])]
        elif resource["Type"] == "AWS::EC2::SecurityGroupIngress":
            rules.append((resource["Properties"]["GroupId"]["Ref"], resource["Properties"]))
    return rules


def covers_5432(rule: dict[str, Any]) -> bool:
    if str(rule["IpProtocol"]) == "-1":
        return True
    return int(rule.get("FromPort", 0)) <= 5432 <= int(rule.get("ToPort", 65535))


def test_no_security_group_is_open_to_the_world_on_5432(stack: Stack) -> None:
    for group, rule in ingress_rules(stack):
        if covers_5432(rule):
            assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0", (group, rule)
            assert "SourceSecurityGroupId" in rule, (group, rule)  # only from a group of this stack


def test_only_the_functions_or_the_proxy_reach_the_database(stack: Stack) -> None:
    if not creates(stack):
        assert ingress_rules(stack) == []  # nothing of the stack opens a port on a given network
        return
    sources = {
        (group, rule["SourceSecurityGroupId"]["Ref"])
        for group, rule in ingress_rules(stack)
        if covers_5432(rule)
    }
    if proxied(stack):
        assert sources == {
            ("DatabaseSecurityGroup", "ProxySecurityGroup"),
            ("ProxySecurityGroup", "FunctionSecurityGroup"),
        }
        assert stack.resources["DBProxy"]["Properties"]["VpcSecurityGroupIds"] == [
            {"Ref": "ProxySecurityGroup"}
        ]
    else:
        assert sources == {("DatabaseSecurityGroup", "FunctionSecurityGroup")}
    cluster = stack.resources["DBCluster"]["Properties"]
    assert cluster["VpcSecurityGroupIds"] == [{"Ref": "DatabaseSecurityGroup"}]
    assert stack.resources["DBWriter"]["Properties"]["PubliclyAccessible"] is False


def holders(stack: Stack, secret: Any) -> set[str]:
    """The resources and outputs that name ``secret`` anywhere."""

    def names(node: Any) -> bool:
        if node == secret:
            return True
        if isinstance(node, dict):
            return any(names(v) for v in node.values())
        if isinstance(node, list):
            return any(names(v) for v in node)
        return False

    found = {logical_id for logical_id, resource in stack.resources.items() if names(resource)}
    found |= {f"output {name}" for name, output in stack.outputs.items() if names(output)}
    if names(stack.resolve(stack.template["Globals"])):
        found.add("Globals")  # the functions' environment, merged into each of them
    return found


def secret_readers(stack: Stack, role: str) -> list[Any]:
    return [
        s["Resource"]
        for policy in stack.resources[role]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if s["Action"] == "secretsmanager:GetSecretValue"
    ]


def test_the_master_secret_is_for_migratefunction_alone(stack: Stack) -> None:
    master, app = master_secret(stack), app_secret(stack)
    separate = master != app
    expected = {"MigrateRole", "MigrateFunction"}
    if not separate:  # an existing database without an application role: as before
        expected |= {"Globals", "DispatcherRole", "CollectorRole", "NotifierRole"}
    if proxied(stack):
        expected |= {"ProxyRole", "DBProxy"}
    if not creates(stack):
        expected.add("DatabaseSchema")  # its ARN only (no access): another database is migrated too
    assert holders(stack, master) == expected
    assert secret_readers(stack, "MigrateRole") == ([master, app] if separate else [master])
    assert secret_readers(stack, "DispatcherRole") == [app]
    platforms = {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:charlee/${AWS::StackName}/*"
    }
    assert secret_readers(stack, "CollectorRole") == [app, platforms]
    alerts = {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:charlee/${AWS::StackName}/alerts/*"
    }
    assert secret_readers(stack, "NotifierRole") == [app, alerts]
    if proxied(stack):
        assert secret_readers(stack, "ProxyRole") == ([master, app] if separate else [master])
        assert [auth["SecretArn"] for auth in stack.resources["DBProxy"]["Properties"]["Auth"]] == (
            [master, app] if separate else [master]
        )


def test_the_created_application_secret_is_generated_by_the_stack(template: dict[str, Any]) -> None:
    assert "AppDatabaseSecret" not in Stack(template, DEPLOYMENTS["existing-vpc"]).resources
    generated = Stack(template, DEPLOYMENTS["create"]).resources["AppDatabaseSecret"]["Properties"]
    spec = generated["GenerateSecretString"]
    assert spec["SecretStringTemplate"] == '{"username": "charlee_app"}'
    assert (spec["GenerateStringKey"], spec["PasswordLength"] >= 32) == ("password", True)


def test_the_created_database_refuses_connections_without_tls(template: dict[str, Any]) -> None:
    stack = Stack(template, DEPLOYMENTS["create"])
    cluster = stack.resources["DBCluster"]["Properties"]
    assert cluster["DBClusterParameterGroupName"] == {"Ref": "DatabaseParameters"}
    parameters = stack.resources["DatabaseParameters"]["Properties"]
    assert parameters["Parameters"] == {"rds.force_ssl": "1"}
    # The family is the engine's major version (a 16.x cluster takes aurora-postgresql16 only).
    family, variables = parameters["Family"]["Fn::Sub"]
    assert family == "aurora-postgresql${Major}"
    assert variables["Major"] == {"Fn::Select": [0, {"Fn::Split": [".", "16.6"]}]}
    assert "DatabaseParameters" not in Stack(template, DEPLOYMENTS["existing-vpc"]).resources


def test_the_functions_reach_out_only_over_http_https_and_postgresql(stack: Stack) -> None:
    if not creates(stack):
        assert "FunctionsToDatabase" not in stack.resources  # a given group is the operator's
        return
    egress = stack.resources["FunctionSecurityGroup"]["Properties"]["SecurityGroupEgress"]
    assert {(r["IpProtocol"], r["FromPort"], r["ToPort"], r["CidrIp"]) for r in egress} == {
        ("tcp", 443, 443, "0.0.0.0/0"),
        ("tcp", 80, 80, "0.0.0.0/0"),
    }
    database = stack.resources["FunctionsToDatabase"]["Properties"]
    assert database["GroupId"] == {"Ref": "FunctionSecurityGroup"}
    assert (database["IpProtocol"], database["FromPort"], database["ToPort"]) == ("tcp", 5432, 5432)
    target = "ProxySecurityGroup" if proxied(stack) else "DatabaseSecurityGroup"
    assert database["DestinationSecurityGroupId"] == {"Ref": target}


def test_the_created_database_keeps_its_data_by_default(template: dict[str, Any]) -> None:
    stack = Stack(template, DEPLOYMENTS["create"])
    cluster = stack.resources["DBCluster"]
    assert (cluster["DeletionPolicy"], cluster["UpdateReplacePolicy"]) == ("Snapshot", "Snapshot")
    props = cluster["Properties"]
    assert props["DeletionProtection"] == "true"
    assert props["StorageEncrypted"] is True and props["ManageMasterUserPassword"] is True
    assert int(props["BackupRetentionPeriod"]) >= 1
    assert props["Engine"] == "aurora-postgresql"
    scaling = props["ServerlessV2ScalingConfiguration"]
    assert (scaling["MinCapacity"], scaling["MaxCapacity"], scaling["SecondsUntilAutoPause"]) == (
        0,
        "2",
        "300",
    )
    assert stack.resources["DBWriter"]["Properties"]["DBInstanceClass"] == "db.serverless"
    chosen = Stack(template, {"DatabaseMode": "create", "DatabaseDeletionPolicy": "Delete"}).resources[
        "DBCluster"
    ]
    assert (chosen["DeletionPolicy"], chosen["UpdateReplacePolicy"]) == ("Delete", "Delete")


def test_with_the_proxy_the_database_does_not_pause(template: dict[str, Any]) -> None:
    scaling = Stack(template, DEPLOYMENTS["create-proxy"]).resources["DBCluster"]["Properties"][
        "ServerlessV2ScalingConfiguration"
    ]
    assert scaling["MinCapacity"] == 0.5 and "SecondsUntilAutoPause" not in scaling


def test_the_proxy_uses_the_secret_and_tls_and_targets_the_database(stack: Stack) -> None:
    if not proxied(stack):
        assert not {"DBProxy", "DBProxyTargets", "ProxyRole"} & set(stack.resources)
        return
    proxy = stack.resources["DBProxy"]["Properties"]
    assert proxy["RequireTLS"] is True and proxy["EngineFamily"] == "POSTGRESQL"
    for auth in proxy["Auth"]:
        assert (auth["AuthScheme"], auth["IAMAuth"]) == ("SECRETS", "DISABLED")
    targets = stack.resources["DBProxyTargets"]["Properties"]
    if creates(stack):
        assert (
            targets["DBClusterIdentifiers"] == [{"Ref": "DBCluster"}]
            and "DBInstanceIdentifiers" not in targets
        )
        assert proxy["VpcSubnetIds"] == [{"Ref": "PrivateSubnetA"}, {"Ref": "PrivateSubnetB"}]
    else:
        assert targets["DBInstanceIdentifiers"] == ["charlee-db"] and "DBClusterIdentifiers" not in targets
        assert proxy["VpcSubnetIds"] == ["subnet-1", "subnet-2"]


def test_the_schema_resource_comes_after_everything_the_migration_needs(stack: Stack) -> None:
    schema = stack.resources["DatabaseSchema"]
    assert schema["Properties"]["ServiceToken"] == {"Fn::GetAtt": ["MigrateFunction", "Arn"]}
    # Re-run whenever the migrations can have changed: they ship in the layer.
    assert schema["Properties"]["SchemaCode"] == {"Ref": "SharedLayer"}
    needed = {"MigrateFunction", "MigrateRole", "MigrateLogGroup", "SharedLayer"}
    if creates(stack):
        needed |= {"DBCluster", "DBWriter", "DatabaseSubnetGroup", "PrivateDefaultRoute", "NatGateway"}
        needed |= {"PrivateSubnetARoutes", "PrivateSubnetBRoutes", "FunctionSecurityGroup"}
        needed |= {"DatabaseFromProxy"} if proxied(stack) else {"DatabaseFromFunctions"}
    if proxied(stack):
        needed |= {"DBProxy", "DBProxyTargets", "ProxyRole"}
    missing = needed - dependencies(stack, "DatabaseSchema")
    assert not missing, f"DatabaseSchema may run before {sorted(missing)}"


def test_nothing_reads_the_schema_before_it_is_migrated(stack: Stack) -> None:
    for function in ("DispatcherFunction", "CollectorFunction"):
        assert stack.resources[function]["DependsOn"] == "DatabaseSchema"
        # SAM creates the schedule rule and the queue mapping from the function: after it.
        assert stack.resources[function]["Properties"]["Events"]
    before = dependencies(stack, "DatabaseSchema")
    assert "DatabaseSchema" not in before  # no cycle
    assert not {"DispatcherFunction", "CollectorFunction"} & before


def test_the_custom_resource_waits_less_than_cloudformations_default_hour(template: dict[str, Any]) -> None:
    schema = template["Resources"]["DatabaseSchema"]["Properties"]
    timeout = cfn_yaml.function_properties(template, "MigrateFunction")["Timeout"]
    assert timeout < schema["ServiceTimeout"] <= 600


def test_rules_refuse_a_deployment_missing_what_its_mode_needs(template: dict[str, Any]) -> None:
    rules = template["Rules"]
    existing = rules["ExistingDatabaseNeedsItsSecret"]
    assert existing["RuleCondition"] == {"Fn::Equals": [{"Ref": "DatabaseMode"}, "existing"]}
    assert existing["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "DatabaseSecretArn"}, ""]}]
    }
    proxy = rules["ProxyForAnExistingDatabaseNeedsItsNetworkAndTarget"]
    named = {ref for assertion in proxy["Assertions"] for ref in references(assertion["Assert"])}
    assert named == {
        "SubnetIds",
        "SecurityGroupIds",
        "ExistingDBInstanceIdentifier",
        "ExistingDBClusterIdentifier",
    }


def test_new_parameters_explain_themselves_in_the_guided_prompts(template: dict[str, Any]) -> None:
    grouped = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"][0]["Parameters"]
    for name in grouped:
        spec = template["Parameters"][name]
        assert len(spec["Description"]) > 40, name
        if name.startswith("Database") or name.startswith("Existing"):
            assert "AllowedValues" in spec or "ConstraintDescription" in spec, name


def test_only_the_stacks_functions_may_publish_collector_events(stack: Stack) -> None:
    policy = stack.resources["CollectorEventBusPolicy"]["Properties"]
    assert policy["EventBusName"] == {"Ref": "CollectorEventBus"}
    statement = policy["Statement"]
    assert (statement["Effect"], statement["Principal"], statement["Action"]) == (
        "Deny",
        "*",
        "events:PutEvents",
    )
    assert statement["Resource"] == {"Fn::GetAtt": ["CollectorEventBus", "Arn"]}
    assert statement["Condition"] == {
        "StringEquals": {"events:source": "charlee.collector"},
        "ArnNotEquals": {
            "aws:PrincipalArn": [
                {"Fn::GetAtt": ["DispatcherRole", "Arn"]},
                {"Fn::GetAtt": ["CollectorRole", "Arn"]},
            ]
        },
    }
    # The two roles are the ones that publish (and the only ones allowed by their own policies).
    publishers = {
        role
        for role in ("DispatcherRole", "CollectorRole", "MigrateRole")
        for policy in stack.resources[role]["Properties"]["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        if s["Action"] == "events:PutEvents"
    }
    assert publishers == {"DispatcherRole", "CollectorRole"}


def test_every_dead_letter_queue_outlasts_the_queue_it_serves(template: dict[str, Any]) -> None:
    stack = Stack(template, {**DEPLOYMENTS["create"], "EventsWebhookUrl": "https://hooks.example.com/x"})
    queues = {k: r["Properties"] for k, r in stack.resources.items() if r["Type"] == "AWS::SQS::Queue"}
    dlqs = {name for name in queues if name.endswith("DLQ")}
    assert dlqs == {"CollectDLQ", "ScheduleDLQ", "NotificationsDLQ", "WebhookDLQ"}
    for name in dlqs:
        assert queues[name]["MessageRetentionPeriod"] == 1209600, name  # 14 days, SQS's most
    for name, queue in queues.items():
        if "RedrivePolicy" in queue:  # a message keeps its first enqueue time in the DLQ
            dlq = queue["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
            assert queue["MessageRetentionPeriod"] < queues[dlq]["MessageRetentionPeriod"], name
