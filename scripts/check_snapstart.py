"""Check the SnapStart parameter through the real transforms (a step of `make validate`).

Runs in .sam-venv (it needs SAM CLI's AWS::LanguageExtensions processor and SAM's translator,
which the development venv does not carry). template.yaml goes through both transforms, as
CloudFormation runs them, once with ``SnapStart=false`` and once with ``SnapStart=true``:

- off: the stack is the one the template describes without the SnapStart wiring: the same
  resources with the same properties, no version, no alias, no SnapStart;
- on: the dispatcher and the collector each get a published version behind the alias ``live``
  with ``SnapStart: {ApplyOn: PublishedVersions}``; the SQS event source mapping, the schedule
  rule's target and its invoke permission, and the dispatcher's event invoke config (retries,
  dead-letter queue) name the alias; MigrateFunction is left alone.

The alarms and the dashboard keep the ``FunctionName`` dimension: Lambda aggregates it over
every version and alias, so they see the alias's invocations and any unqualified ones.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

from samcli.lib.cfn_language_extensions.api import process_template
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parents[1]
ALIAS = "live"
SNAPSTART_FUNCTIONS = ("DispatcherFunction", "CollectorFunction")
DUMMY_PARAMETERS = {
    "DatabaseSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/db-AbCdEf",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "charlee-collector",
}


class NoManagedPolicies:
    """The template names no managed policy by name, so SAM never needs IAM to expand one."""

    def load(self) -> dict[str, str]:
        return {}


def translate(
    template: dict[str, Any], snapstart: str, extra: dict[str, str] | None = None
) -> dict[str, Any]:
    """``template`` after AWS::LanguageExtensions and the SAM transform, with SnapStart=``snapstart``.

    ``extra``: more parameter values (scripts/check_database_modes.py gives the database mode).
    """
    parameters = {**DUMMY_PARAMETERS, "SnapStart": snapstart, **(extra or {})}
    expanded = process_template(copy.deepcopy(template), parameter_values=parameters)
    for resource in expanded["Resources"].values():  # what `sam package` uploads them as
        for key in ("CodeUri", "ContentUri"):
            if key in resource.get("Properties", {}):
                resource["Properties"][key] = f"s3://artifacts/{resource['Properties'][key]}"
    expanded["Transform"] = "AWS::Serverless-2016-10-31"
    return transform(expanded, parameters, NoManagedPolicies())  # type: ignore[arg-type]


def without_snapstart_wiring(template: dict[str, Any]) -> dict[str, Any]:
    bare = copy.deepcopy(template)
    for function in SNAPSTART_FUNCTIONS:
        properties = bare["Resources"][function]["Properties"]
        properties.pop("AutoPublishAlias")
        properties.pop("SnapStart")
    return bare


def of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: r for name, r in resources.items() if r["Type"] == kind}


def check_off(template: dict[str, Any]) -> list[str]:
    off = translate(template, "false")["Resources"]
    bare = translate(without_snapstart_wiring(template), "false")["Resources"]
    problems = [
        f"SnapStart=false changes resource {name}" for name in sorted(off) if off.get(name) != bare.get(name)
    ]
    problems += [f"SnapStart=false drops resource {name}" for name in sorted(set(bare) - set(off))]
    for kind in ("AWS::Lambda::Version", "AWS::Lambda::Alias"):
        problems += [f"SnapStart=false creates {kind} {name}" for name in of_type(off, kind)]
    return problems


def check_on(template: dict[str, Any]) -> list[str]:
    resources = translate(template, "true")["Resources"]
    problems: list[str] = []

    def expect(condition: bool, message: str) -> None:
        if not condition:
            problems.append(message)

    aliases = of_type(resources, "AWS::Lambda::Alias")
    expect(
        sorted(aliases) == sorted(f"{f}Alias{ALIAS}" for f in SNAPSTART_FUNCTIONS),
        f"SnapStart=true: aliases {sorted(aliases)}",
    )
    for function in ("DispatcherFunction", "CollectorFunction", "MigrateFunction"):
        snapstart = resources[function]["Properties"].get("SnapStart")
        wanted = {"ApplyOn": "PublishedVersions"} if function in SNAPSTART_FUNCTIONS else None
        expect(snapstart == wanted, f"SnapStart=true: {function} SnapStart is {snapstart}")
    for name, alias in aliases.items():
        version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        expect(resources[version]["Type"] == "AWS::Lambda::Version", f"{name} points at {version}")

    def invokes_alias(value: Any, function: str) -> bool:
        return value in ({"Ref": f"{function}Alias{ALIAS}"},)

    def mentions(value: Any, logical_id: str) -> bool:
        """Whether ``value`` refers to ``logical_id`` (or its alias or version) anywhere inside."""
        return logical_id in json.dumps(value)

    # Only the SnapStart functions' wiring names an alias: the notifier (its own queue mapping,
    # its own digest schedule) is invoked unqualified, as every function is with SnapStart off.
    (mapping,) = [
        m
        for m in of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if mentions(m["Properties"].get("EventSourceArn"), "CollectQueue")
    ]
    expect(
        invokes_alias(mapping["Properties"]["FunctionName"], "CollectorFunction"),
        "the SQS event source skips the alias",
    )
    # The dispatcher's schedule: the rule with a ScheduleExpression whose target is the dispatcher.
    (rule,) = [
        r
        for r in of_type(resources, "AWS::Events::Rule").values()
        if "ScheduleExpression" in r["Properties"]
        and any(mentions(t["Arn"], "DispatcherFunction") for t in r["Properties"]["Targets"])
    ]
    (target,) = rule["Properties"]["Targets"]
    expect(invokes_alias(target["Arn"], "DispatcherFunction"), "the schedule skips the alias")
    for name, permission in of_type(resources, "AWS::Lambda::Permission").items():
        if not mentions(permission["Properties"]["FunctionName"], "DispatcherFunction"):
            continue  # another function's (the notifier's schedule)
        expect(
            invokes_alias(permission["Properties"]["FunctionName"], "DispatcherFunction"),
            f"{name} skips the alias",
        )
    for name, config in of_type(resources, "AWS::Lambda::EventInvokeConfig").items():
        expect(
            config["Properties"]["Qualifier"] == ALIAS,
            f"{name} configures {config['Properties']['Qualifier']}",
        )
    return problems


def main() -> int:
    template = yaml_parse((ROOT / "template.yaml").read_text())
    problems = check_off(template) + check_on(template)
    for problem in problems:
        print(f"snapstart: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("snapstart: off translates as without the parameter; on publishes and invokes the alias 'live'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
