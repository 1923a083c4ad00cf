"""Read the SAM template the way CloudFormation does, for the tests and the scripts.

``load`` turns the short tags (``!Ref X``, ``!GetAtt A.B``, ``!Sub ...``) into their long JSON
form (``{"Ref": "X"}``, ``{"Fn::GetAtt": ["A", "B"]}``, ``{"Fn::Sub": ...}``), so a test reads
one shape whichever way the template spells an intrinsic. The helpers below answer the
questions the tests and scripts share: a function's effective properties (Globals merged, as SAM
does), and which custom metrics the dashboard and the alarms read.

Only PyYAML is needed (it ships with cfn-lint and moto), nothing from this project.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
BUILT_TEMPLATE = ROOT / ".aws-sam" / "build" / "template.yaml"


class CfnLoader(yaml.SafeLoader):
    """A SafeLoader that knows CloudFormation's short tags and keeps dates as strings."""


# AWSTemplateFormatVersion and similar must stay strings, as CloudFormation reads them.
CfnLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_intrinsic(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_intrinsic)


def load(path: Path | str = TEMPLATE) -> dict[str, Any]:
    """The template at ``path`` as plain dicts and lists, intrinsics in their long form."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=CfnLoader)  # CfnLoader is a SafeLoader: no object tags


def resources(template: Mapping[str, Any], kind: str | None = None) -> dict[str, dict[str, Any]]:
    """The template's resources (of one ``Type`` when ``kind`` is given), by logical id."""
    found = template.get("Resources", {})
    return {k: v for k, v in found.items() if kind is None or v.get("Type") == kind}


def function_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """A function's properties with ``Globals.Function`` merged in, the way SAM merges them.

    Scalars on the function win, maps merge key by key, lists are the global items followed by
    the function's own.
    """
    merged: dict[str, Any] = dict(template.get("Globals", {}).get("Function", {}))
    for key, value in template["Resources"][logical_id].get("Properties", {}).items():
        base = merged.get(key)
        if isinstance(base, dict) and isinstance(value, dict) and not _is_intrinsic(value):
            merged[key] = _merge_maps(base, value)
        elif isinstance(base, list) and isinstance(value, list):
            merged[key] = [*base, *value]
        else:
            merged[key] = value
    return merged


def _merge_maps(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = _merge_maps(out[key], value)
        else:
            out[key] = value
    return out


def _is_intrinsic(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)).startswith(("Fn::", "Ref"))


def parameter_default(template: Mapping[str, Any], name: str) -> Any:
    """The ``Default`` of parameter ``name`` (KeyError when it has none)."""
    return template["Parameters"][name]["Default"]


def resolve_defaults(template: Mapping[str, Any], value: Any) -> Any:
    """``value`` with ``Ref`` to a parameter and ``Fn::FindInMap`` resolved from the defaults.

    Anything else (a resource reference, a pseudo parameter) is returned unchanged.
    """
    if isinstance(value, dict) and set(value) == {"Ref"}:
        params = template.get("Parameters", {})
        if value["Ref"] in params and "Default" in params[value["Ref"]]:
            return params[value["Ref"]]["Default"]
        return value
    if isinstance(value, dict) and set(value) == {"Fn::FindInMap"}:
        name, top, second = (resolve_defaults(template, part) for part in value["Fn::FindInMap"])
        return template["Mappings"][name][str(top)][second]
    return value


_SUB_VARIABLE = re.compile(r"\$\{([^}!]+)\}")


def render_sub(text: str, variables: Mapping[str, Any]) -> str:
    """``text`` (a Fn::Sub string) with each ``${Name}`` replaced by ``variables[Name]``.

    A name not in ``variables`` becomes ``<Name>``, so a test can still see what was referenced.
    """
    return _SUB_VARIABLE.sub(lambda m: str(variables.get(m.group(1), f"<{m.group(1)}>")), text)


def dashboard_body(template: Mapping[str, Any], logical_id: str = "Dashboard") -> dict[str, Any]:
    """The dashboard's JSON body, with its Sub variables resolved from the parameter defaults.

    ``${MetricsNamespace}`` stays ``<MetricsNamespace>`` so custom metrics are recognisable;
    other parameters take their defaults; ``${Resource}`` becomes ``<Resource>``.
    """
    body = template["Resources"][logical_id]["Properties"]["DashboardBody"]["Fn::Sub"]
    text, extra = (body, {}) if isinstance(body, str) else (body[0], body[1])
    variables: dict[str, Any] = {
        name: spec["Default"]
        for name, spec in template.get("Parameters", {}).items()
        if "Default" in spec and name != "MetricsNamespace"
    }
    variables.update({k: resolve_defaults(template, v) for k, v in extra.items()})
    variables["AWS::Region"] = "us-east-1"
    return json.loads(render_sub(text, variables))


NAMESPACE_MARKER = "<MetricsNamespace>"


def dashboard_metrics(body: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of every metric line on the dashboard."""
    for widget in body.get("widgets", []):
        for line in widget.get("properties", {}).get("metrics", []):
            fields = [part for part in line if not isinstance(part, dict)]
            if any(part == "." for part in fields):
                raise ValueError(f"dashboard metric {line} uses '.' shorthand; spell it out")
            if len(fields) < 2:  # a math expression line: [{"expression": ...}]
                continue
            namespace, name, *pairs = fields
            yield namespace, name, dict(zip(pairs[::2], pairs[1::2], strict=True))


def alarm_metrics(template: Mapping[str, Any]) -> Iterator[tuple[str, Any, str, dict[str, Any]]]:
    """(alarm id, namespace, metric name, dimensions) of every metric an alarm reads."""
    for alarm_id, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        if "MetricName" in props:
            dims = {d["Name"]: d["Value"] for d in props.get("Dimensions", [])}
            yield alarm_id, props["Namespace"], props["MetricName"], dims
        for query in props.get("Metrics", []):
            metric = query.get("MetricStat", {}).get("Metric")
            if metric:
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                yield alarm_id, metric["Namespace"], metric["MetricName"], dims


def custom_metrics(template: Mapping[str, Any]) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    """(name, dimensions) of every metric in the MetricsNamespace the dashboard or an alarm reads.

    Dimension values that reference a resource read ``<LogicalId>`` (from the dashboard) and
    ``{"Ref": ...}`` values are shown the same way, so both sources compare equal.
    """
    found: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for namespace, name, dims in dashboard_metrics(dashboard_body(template)):
        if namespace == NAMESPACE_MARKER:
            found.add((name, frozenset(dims.items())))
    for _alarm, namespace, name, dims in alarm_metrics(template):
        if namespace == {"Ref": "MetricsNamespace"}:
            shown = {k: f"<{v['Ref']}>" if isinstance(v, dict) and "Ref" in v else v for k, v in dims.items()}
            found.add((name, frozenset(shown.items())))
    return found
