"""Translate template.yaml in each database mode and check the wiring SAM generates.

A step of `make validate`, run in .sam-venv (SAM CLI's AWS::LanguageExtensions processor and
SAM's translator, as scripts/check_snapstart.py uses them). For DatabaseMode existing and create,
each with DatabaseProxy off and on, the template goes through both transforms with those values
(an existing database behind a proxy gets subnets, groups and an instance to target), which is
`sam validate` with parameter values. Then, on what SAM made:

- the schedule rule and the SQS event source mapping come after the DatabaseSchema custom
  resource (through the functions' DependsOn, which SAM must carry onto AWS::Lambda::Function);
- every function gets the database variables and, in a VPC, the stack's or the given subnets.

cfn-lint is not run per mode: on template.yaml it already evaluates every combination of the
conditions (both modes, proxy on and off), and a template with the parameters pinned only adds
its "branch not reachable" warnings.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from check_snapstart import DUMMY_PARAMETERS, of_type, translate  # noqa: E402

from tests.support.cfn_conditions import Stack, dependencies  # noqa: E402

EXISTING_NETWORK = {"SubnetIds": "subnet-0a,subnet-0b", "SecurityGroupIds": "sg-0a"}
MODES: dict[str, dict[str, str]] = {
    "existing": {"DatabaseMode": "existing", "DatabaseProxy": "false"},
    "existing-proxy": {
        "DatabaseMode": "existing",
        "DatabaseProxy": "true",
        "ExistingDBInstanceIdentifier": "charlee-db",
        **EXISTING_NETWORK,
    },
    "create": {"DatabaseMode": "create", "DatabaseProxy": "false"},
    "create-proxy": {"DatabaseMode": "create", "DatabaseProxy": "true"},
}
FUNCTIONS = ("DispatcherFunction", "CollectorFunction", "MigrateFunction")


def check(name: str, values: dict[str, str], translated: dict[str, Any]) -> list[str]:
    parameters = {k: v for k, v in {**DUMMY_PARAMETERS, **values}.items() if not k.startswith("AWS::")}
    stack = Stack(translated, parameters)
    resources = stack.resources
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(f"{name}: {message}")

    for function in ("DispatcherFunction", "CollectorFunction"):
        depends = resources[function].get("DependsOn", [])
        expect(
            "DatabaseSchema" in ([depends] if isinstance(depends, str) else depends),
            f"{function} lost DependsOn",
        )

    def invokes_a_function(resource: dict[str, Any]) -> bool:
        # Rules that only route bus events to a queue or an API destination never touch the
        # database; the schedule and the SQS mapping invoke the functions and must wait.
        if resource["Type"] == "AWS::Lambda::EventSourceMapping":
            return True
        targets = json.dumps(resource["Properties"].get("Targets", []))
        return any(function in targets for function in FUNCTIONS)

    for kind in ("AWS::Events::Rule", "AWS::Lambda::EventSourceMapping"):
        for logical_id, resource in of_type(resources, kind).items():
            if not invokes_a_function(resource):
                continue
            expect(
                "DatabaseSchema" in dependencies(stack, logical_id),
                f"{kind} {logical_id} may run before the schema",
            )
    for function in FUNCTIONS:
        props = resources[function]["Properties"]
        env = props["Environment"]["Variables"]
        expect(
            {"DB_SECRET_ARN", "DB_HOST", "DB_NAME", "DB_TLS"} <= set(env),
            f"{function} environment {sorted(env)}",
        )
        vpc = props.get("VpcConfig")
        if values["DatabaseMode"] == "create":
            expect(
                vpc is not None and {"Ref": "PrivateSubnetA"} in vpc["SubnetIds"],
                f"{function} VpcConfig {vpc}",
            )
        elif "SubnetIds" in values:
            expect(
                vpc == {"SubnetIds": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-0a"]},
                f"{function} VpcConfig {vpc}",
            )
        else:
            expect(vpc is None, f"{function} VpcConfig {vpc}")
    expect(("DBProxy" in resources) == (values["DatabaseProxy"] == "true"), "DBProxy created or missing")
    expect(("DBCluster" in resources) == (values["DatabaseMode"] == "create"), "DBCluster created or missing")
    return problems


def main() -> int:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    problems: list[str] = []
    for name, values in MODES.items():
        problems += check(name, values, translate(template, "false", values))
    for problem in problems:
        print(f"database modes: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"database modes: {', '.join(MODES)} translate; schema before schedule and queue; functions wired")
    return 0


if __name__ == "__main__":
    sys.exit(main())
