"""Any JSON API, described in config: where the items are and where each field is (JMESPath).

The config (``url``, ``params``, ``headers``, ``items``, ``fields``: docs/sources.md has an example) is
compiled when validated, so a typo fails there, naming the field. ``{name}`` in a header or
parameter value becomes the key ``name`` of the platform's credentials secret (plain names only: no
attribute or index access, which ``str.format`` would allow); a missing key is a
``PermanentSourceError`` naming the key, never the value, and no message shows a header value or the
query string. A budget's period: ``budget_period``, else the budget's text, else the contract type.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jmespath
import jmespath.exceptions
from pydantic import BaseModel, ConfigDict, Field, field_validator

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import budget_period, parse_budget, to_decimal
from charlee_collector.normalize.html import html_texts
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.sources.base import (
    JSON_ACCEPT,
    BaseSourceConfig,
    Source,
    WebUrl,
    load_json,
    read_any,
    records,
    text,
)

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CONTRACT_TYPES = {
    "fixed": "fixed_price",
    "fixed_price": "fixed_price",
    "fixed-price": "fixed_price",
    "hourly": "hourly",
}


@lru_cache(maxsize=1024)
def compiled(expression: str) -> Any:
    """The compiled JMESPath expression (cached: configs repeat across runs)."""
    return jmespath.compile(expression)


def _check_expression(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        compiled(value)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValueError(f"invalid JMESPath expression {value!r}: {exc}") from exc
    return value


class FieldMap(BaseModel):
    """One JMESPath expression (relative to an item) per opportunity field; ``None`` skips it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    external_id: str | None = "id"
    title: str = "title"
    description: str | None = "description"
    url: str | None = "url"
    client_name: str | None = None
    client_country: str | None = None
    required_skills: str | None = None
    category: str | None = None
    client_budget: str | None = None
    client_currency: str | None = None
    contract_type: str | None = None
    budget_period: str | None = None
    posted_at: str | None = None

    @field_validator("*")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        return _check_expression(value)


class JsonApiConfig(BaseSourceConfig):
    """``items`` selects the list of items in the payload; ``fields`` maps each field."""

    url: WebUrl
    items: str = Field(min_length=1)
    fields: FieldMap = Field(default_factory=FieldMap)
    params: dict[str, str] = Field(default_factory=dict)
    headers: dict[str, str] = Field(default_factory=dict)
    description_is_html: bool = True

    @field_validator("items")
    @classmethod
    def _items_expression(cls, value: str) -> str:
        return _check_expression(value) or value

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name, header in value.items():
            if not _HEADER_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a valid header name")
            if "\r" in header or "\n" in header:
                raise ValueError(f"the value of header {name!r} contains a line break")
        return value


def render(template: str, secrets: Mapping[str, str], where: str) -> str:
    """``template`` with each ``{name}`` replaced by ``secrets[name]``."""

    def _secret(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in secrets:
            raise PermanentSourceError(
                f"json_api {where} needs the key {name!r}, which the platform's credentials secret "
                "does not hold: add it to the secret or fix the placeholder"
            )
        return str(secrets[name])

    return _PLACEHOLDER.sub(_secret, template)


def _reads(config: JsonApiConfig) -> str:
    fields = [
        f"{name} {expression!r}"
        for name in ("external_id", "title")
        if (expression := getattr(config.fields, name))
    ]
    return f"the items expression {config.items!r} to select objects with {' and '.join(fields)}"


def _pick(expression: str | None, item: Any) -> Any:
    return compiled(expression).search(item) if expression else None


class JsonApiSource(Source):
    key = "json_api"
    reads = "the list the platform's items expression selects"
    min_interval_minutes = 15
    interval_terms = "Any API: check its own terms; 15 minutes is the dispatcher's period."
    example = {
        "url": "https://api.example.com/v1/jobs",
        "params": {"q": "python"},
        "headers": {"Authorization": "Bearer {api_key}"},
        "items": "data.jobs",
        "fields": {
            "external_id": "id",
            "title": "name",
            "url": "links.web",
            "client_budget": "budget.max",
            "client_currency": "budget.currency",
            "posted_at": "created_at",
            "required_skills": "skills[].name",
        },
    }
    Config = JsonApiConfig

    def request_params(self, config: JsonApiConfig, secrets: Mapping[str, str]) -> dict[str, Any]:
        return {name: render(value, secrets, f"parameter {name!r}") for name, value in config.params.items()}

    def request_headers(self, config: JsonApiConfig, secrets: Mapping[str, str]) -> dict[str, str]:
        headers = {"Accept": JSON_ACCEPT}
        headers.update(
            {name: render(value, secrets, f"header {name!r}") for name, value in config.headers.items()}
        )
        return headers

    def parse(self, body: bytes, config: JsonApiConfig) -> list[Opportunity]:
        payload = load_json(body, self.key)
        found = compiled(config.items).search(payload)
        if not isinstance(found, list):
            raise PermanentSourceError(
                f"json_api payload could not be parsed: the items expression {config.items!r} selected "
                f"{type(found).__name__}, not a list; check the platform's items expression"
            )
        fields = config.fields
        items: list[Opportunity] = []
        found = records(found)
        descriptions = [text(_pick(fields.description, item)) for item in found]
        if config.description_is_html:
            descriptions = html_texts(descriptions)
        for item, description in zip(found, descriptions, strict=True):
            budget_value = _pick(fields.client_budget, item)
            budget = parse_budget(budget_value) if isinstance(budget_value, str) else None
            amount = budget.amount if budget else to_decimal(budget_value)
            contract = str(_pick(fields.contract_type, item) or "").strip().lower()
            skills = _pick(fields.required_skills, item)
            opportunity = build_opportunity(
                external_id=text(_pick(fields.external_id, item)),
                title=text(_pick(fields.title, item)),
                description=description,
                url=text(_pick(fields.url, item)),
                client_name=text(_pick(fields.client_name, item)),
                client_country=text(_pick(fields.client_country, item)),
                required_skills=skills if isinstance(skills, list | str) else None,
                category=text(_pick(fields.category, item)),
                client_budget=amount,
                client_currency=text(_pick(fields.client_currency, item))
                or (budget.currency if budget else None),
                contract_type=_CONTRACT_TYPES.get(contract) or (budget.contract_type if budget else None),
                budget_period=budget_period(text(_pick(fields.budget_period, item)))
                or (budget.period if budget else None),
                posted_at=_pick(fields.posted_at, item),
                raw=dict(item),
            )
            if opportunity is not None:
                items.append(opportunity)
        return read_any(self.key, _reads(config), found, items)
