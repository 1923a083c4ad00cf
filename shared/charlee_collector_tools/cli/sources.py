"""``sources [NAME]``: the source adapters and their config keys, read from the config schemas.

Everything shown comes from each source's pydantic ``Config`` (its JSON schema: types, defaults,
limits) and the ``Source`` class (minimum interval, example), so it cannot drift from what
``platforms add`` accepts.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer

from charlee_collector.core.terms import CONTENT_KEPT_HOURS
from charlee_collector_tools.cli.common import BadInput, out, print_json, settings, table

# JSON schema limit keywords, as the table shows them.
_LIMITS = {
    "minimum": ">= {}",
    "exclusiveMinimum": "> {}",
    "maximum": "<= {}",
    "exclusiveMaximum": "< {}",
    "minLength": "length >= {}",
    "maxLength": "length <= {}",
    "minItems": "items >= {}",
    "maxItems": "items <= {}",
    "pattern": "matches {}",
}
# A schema's keys of which a config must give at least one (``BoardConfig``: ``board`` or ``url``).
ONE_OF = "x-one-of-required"


def _summary(source: Any) -> str:
    doc = sys.modules[type(source).__module__].__doc__ or ""
    return doc.strip().splitlines()[0].replace("``", "") if doc.strip() else ""


def _type(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    if "$ref" in schema:
        return "object"
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "anyOf" in schema:
        options = schema["anyOf"]
        if any(option.get("type") == "number" for option in options):
            # A Decimal: a number, or the same number as a bare string (pydantic's schema says
            # both). A string the schema describes further (min_budget's "60/hour") stays.
            options = [option for option in options if option != {"type": "string"}]
        return " | ".join(dict.fromkeys(_type(option, defs) for option in options))
    kind = schema.get("type", "any")
    if kind == "array":
        item = _type(schema.get("items", {}), defs)
        return f"list of ({item})" if " | " in item else f"list of {item}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'], defs)}"
    return str(kind)


def _limits(schema: dict[str, Any]) -> list[str]:
    found = [template.format(schema[key]) for key, template in _LIMITS.items() if key in schema]
    for option in schema.get("anyOf", []):
        found.extend(_limits(option))
    if "items" in schema:
        found.extend(f"each {limit}" for limit in _limits(schema["items"]))
    return found


def _required(key: dict[str, Any]) -> str:
    if key["one_of_required"]:
        return "one of " + ", ".join(key["one_of_required"])
    return "yes" if key["required"] else "no"


def describe(key: str) -> dict[str, Any]:
    """One source: its summary, minimum interval, keys (type, default, limits) and an example."""
    from charlee_collector.normalize.filters import BaseSourceConfig
    from charlee_collector.sources import get_source

    source = get_source(key)
    schema = source.Config.model_json_schema()
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    one_of = list(schema.get(ONE_OF, []))
    keys = []
    for name, prop in schema["properties"].items():
        keys.append(
            {
                "name": name,
                "type": _type(prop, defs),
                "required": name in required,
                "one_of_required": one_of if name in one_of else None,
                "default": prop.get("default"),
                "limits": _limits(prop),
                "filter": name in BaseSourceConfig.model_fields,
            }
        )
    return {
        "name": key,
        "summary": _summary(source),
        "min_interval_minutes": source.min_interval_minutes,
        "interval_terms": source.interval_terms,
        "oauth_tokens": source.oauth_tokens,
        "cache_hours": CONTENT_KEPT_HOURS.get(key),
        "keys": keys,
        "example": source.example,
        "schema": schema,
    }


def sources_command(
    name: Annotated[str | None, typer.Argument(help="A source: show its config keys.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document instead.")] = False,
) -> None:
    """List the sources, or show one source's config keys, limits and an example."""
    from charlee_collector.core.errors import InvalidPlatformConfig
    from charlee_collector.sources import REGISTRY

    if name is None:
        rows = [describe(key) for key in REGISTRY]
        if as_json:
            print_json([{k: row[k] for k in ("name", "summary", "min_interval_minutes")} for row in rows])
            return
        out.print(
            table(
                None,
                ["Source", "Min. interval", "What"],
                [(row["name"], f"{row['min_interval_minutes']}m", row["summary"]) for row in rows],
            )
        )
        out.print("`charlee-collector sources NAME` shows a source's config keys.")
        return
    try:
        info = describe(name)
    except InvalidPlatformConfig as exc:
        raise BadInput(str(exc)) from None
    if as_json:
        print_json(info)
        return
    out.print(f"{info['name']}: {info['summary']}")
    out.print(f"Collect at most every {info['min_interval_minutes']} minutes: {info['interval_terms']}")
    out.print(
        table(
            "Config keys (filters apply to every source)",
            ["Key", "Type", "Required", "Default", "Limits", "Kind"],
            [
                (
                    key["name"],
                    key["type"],
                    _required(key),
                    "-" if key["default"] is None else json.dumps(key["default"]),
                    "; ".join(key["limits"]) or "-",
                    "filter" if key["filter"] else "source",
                )
                for key in info["keys"]
            ],
        )
    )
    credentials = ""
    if info["oauth_tokens"]:
        # Only these sources have an ``authorize`` command: it makes the grant the collector refreshes.
        from charlee_collector.core.credentials import oauth_secret_name

        secret = oauth_secret_name(info["name"], settings().platform_secret_prefix)
        credentials = f" --credentials-secret {secret}"
        out.print(
            f"Credentials: an OAuth2 grant in a Secrets Manager secret, kept fresh by the collector: "
            f"`charlee-collector {info['name']} authorize --client-id ID --secret {secret}` makes it."
        )
    if info["cache_hours"] is not None:
        out.print(
            f"Its terms allow keeping its data {info['cache_hours']} hours: descriptions and raw bodies "
            "are purged after that."
        )
    out.print("Example:")
    out.print(
        f"charlee-collector platforms add --user 1 --name NAME --source {info['name']} "
        f"--interval {info['min_interval_minutes']}{credentials} --config '{json.dumps(info['example'])}'",
        soft_wrap=True,
    )
