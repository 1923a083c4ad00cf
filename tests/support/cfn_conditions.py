"""Resolve a template's conditions for one set of parameter values, as CloudFormation would.

``Stack(template, {"DatabaseMode": "create"})`` evaluates every condition (Fn::Equals, Fn::And,
Fn::Or, Fn::Not, Condition) over the parameters (defaults, then the values given), and answers
for that one deployment: which resources exist, and any value with Fn::If picked, AWS::NoValue
dropped, Ref to a parameter replaced by its value, Fn::FindInMap looked up and Fn::Join over
known parts joined. Refs and
GetAtts to resources stay as they are (``{"Ref": "DBProxy"}``), so a test can follow them.

Works on ``cfn_yaml.load`` output (intrinsics in their long form). Only what template.yaml uses
is understood; anything else raises, so a new construct cannot be silently misread.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

from tests.support import cfn_yaml

NO_VALUE = {"Ref": "AWS::NoValue"}
_DROP = object()  # what AWS::NoValue resolves to: the key or item disappears


class Stack:
    """One deployment of ``template``: its parameters, conditions and resources."""

    def __init__(self, template: Mapping[str, Any], parameters: Mapping[str, str] | None = None) -> None:
        self.template = template
        declared = template.get("Parameters", {})
        unknown = set(parameters or {}) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        self.parameters: dict[str, Any] = {}
        for name, spec in declared.items():
            raw = (parameters or {}).get(name, spec.get("Default"))
            if raw is None:
                raise KeyError(f"parameter {name} has no default: give it a value")
            raw = str(raw)
            self.parameters[name] = raw.split(",") if spec["Type"] == "CommaDelimitedList" else raw

    @cached_property
    def conditions(self) -> dict[str, bool]:
        """Every condition's value for these parameters."""
        found: dict[str, bool] = {}
        pending = dict(self.template.get("Conditions", {}))

        def evaluate(name: str, seen: tuple[str, ...] = ()) -> bool:
            if name in found:
                return found[name]
            if name in seen:
                raise ValueError(f"conditions refer to each other in a loop: {(*seen, name)}")
            found[name] = self._truth(pending[name], lambda other: evaluate(other, (*seen, name)))
            return found[name]

        for name in pending:
            evaluate(name)
        return found

    def _truth(self, node: Any, condition: Any) -> bool:
        if not isinstance(node, dict) or len(node) != 1:
            raise ValueError(f"not a condition: {node!r}")
        ((function, args),) = node.items()
        if function == "Condition":
            return bool(condition(args))
        if function == "Fn::Equals":
            left, right = (self._scalar(arg) for arg in args)
            return left == right
        if function == "Fn::And":
            return all(self._truth(arg, condition) for arg in args)
        if function == "Fn::Or":
            return any(self._truth(arg, condition) for arg in args)
        if function == "Fn::Not":
            (inner,) = args
            return not self._truth(inner, condition)
        raise ValueError(f"condition function not understood: {function}")

    def _scalar(self, node: Any) -> str:
        value = self.resolve(node)
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        if not isinstance(value, str):
            raise ValueError(f"cannot compare {node!r}: it resolves to {value!r}")
        return value

    def holds(self, condition: str) -> bool:
        return self.conditions[condition]

    @cached_property
    def resources(self) -> dict[str, dict[str, Any]]:
        """The resources this deployment creates, their properties (and DependsOn) resolved."""
        created = {}
        for logical_id, resource in self.template.get("Resources", {}).items():
            if "Condition" in resource and not self.holds(resource["Condition"]):
                continue
            created[logical_id] = {k: self.resolve(v) for k, v in resource.items() if k != "Condition"}
        return created

    @cached_property
    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output)
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.holds(output["Condition"])
        }

    def function(self, logical_id: str) -> dict[str, Any]:
        """A function's properties, Globals merged in (cfn_yaml.function_properties), resolved."""
        if logical_id not in self.resources:
            raise KeyError(f"{logical_id} is not created in this deployment")
        return self.resolve(cfn_yaml.function_properties(self.template, logical_id))  # type: ignore[no-any-return]

    def resolve(self, value: Any) -> Any:
        """``value`` for this deployment (see the module docstring)."""
        result = self._resolve(value)
        return None if result is _DROP else result

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self._resolve(v) for v in value) if item is not _DROP]
        if not isinstance(value, dict):
            return value
        if value == NO_VALUE:
            return _DROP
        if set(value) == {"Fn::If"}:
            name, when_true, when_false = value["Fn::If"]
            return self._resolve(when_true if self.holds(name) else when_false)
        if set(value) == {"Ref"} and value["Ref"] in self.parameters:
            return self.parameters[value["Ref"]]
        if set(value) == {"Fn::FindInMap"}:
            keys = self._resolve(value["Fn::FindInMap"])
            if all(isinstance(key, str) for key in keys):
                name, top, second = keys
                return self.template["Mappings"][name][top][second]
            return {"Fn::FindInMap": keys}
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            parts = self._resolve(parts)
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return separator.join(parts)
            return {"Fn::Join": [separator, parts]}
        resolved = {k: self._resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _DROP}


def references(value: Any) -> Iterator[str]:
    """The logical ids (resources or parameters) ``value`` names with Ref, GetAtt or ${...} in Sub."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        if set(value) == {"Ref"}:
            yield value["Ref"]
            return
        if set(value) == {"Fn::GetAtt"}:
            yield value["Fn::GetAtt"][0]
            return
        if set(value) == {"Fn::Sub"}:
            text, variables = (
                (value["Fn::Sub"], {}) if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"]
            )
            for name in cfn_yaml._SUB_VARIABLE.findall(text):
                if name not in variables:
                    yield name.split(".")[0]
            yield from references(variables)
            return
        for item in value.values():
            yield from references(item)


def dependencies(stack: Stack, logical_id: str) -> set[str]:
    """Every resource ``logical_id`` needs first: its Refs, GetAtts and DependsOn, transitively.

    A function counts its Globals (its VPC, its environment) as SAM merges them.
    """
    found: set[str] = set()
    todo = [logical_id]
    while todo:
        current = todo.pop()
        resource = stack.resources[current]
        body: Any = resource
        if resource["Type"] == "AWS::Serverless::Function":
            body = {**resource, "Properties": stack.function(current)}
        depends = body.get("DependsOn", [])
        named = set(references(body)) | set([depends] if isinstance(depends, str) else depends)
        for name in named & set(stack.resources):
            if name not in found:
                found.add(name)
                todo.append(name)
    return found
