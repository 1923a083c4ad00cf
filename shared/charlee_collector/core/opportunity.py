"""The one opportunity shape every source normalises to, matching ``freelance_opportunities``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Literal, get_args

ContractType = Literal["fixed_price", "hourly"]
# What a budget's amount is per (``core.limits.BUDGET_PERIODS``, the column's allowed values); ``None``
# when the source does not say. "fixed" is a whole project's price.
BudgetPeriod = Literal["hour", "day", "week", "month", "year", "fixed"]
# The words that name a period on their own: a config's "50/h", an API field's "yearly".
PERIOD_NAMES: dict[str, BudgetPeriod] = {
    **{name: name for name in get_args(BudgetPeriod)},
    "h": "hour", "hr": "hour", "hourly": "hour",
    "d": "day", "daily": "day",
    "wk": "week", "weekly": "week",
    "mo": "month", "monthly": "month",
    "yr": "year", "yearly": "year", "annual": "year", "annually": "year",
    "fixed_price": "fixed", "fixed-price": "fixed", "project": "fixed",
}  # fmt: skip
# How a listing writes each period after the amount: "75 USD/h", "500 USD fixed".
PERIOD_SUFFIXES: dict[str, str] = {
    "hour": "/h",
    "day": "/d",
    "week": "/wk",
    "month": "/mo",
    "year": "/yr",
    "fixed": " fixed",
}

# Fields whose change makes an opportunity "updated"; ``raw`` is left out because sources put
# volatile counters in it (views, applicants) that would mark every item changed on each run.
HASHED_FIELDS = (
    "title",
    "description",
    "url",
    "client_name",
    "client_country",
    "required_skills",
    "category",
    "client_budget",
    "client_currency",
    "contract_type",
    "posted_at",
)
# Hashed only when set: rows stored before periods existed (all unknown) keep their hash, and a
# period that appears or changes makes the item "updated" like any other change a reader sees.
HASHED_WHEN_SET = ("budget_period",)
# The hash is defined by json.dumps(sort_keys=True, ...): its keys in that order, pre-quoted.
_HASH_KEYS = tuple((name, f'"{name}": ') for name in sorted((*HASHED_FIELDS, *HASHED_WHEN_SET)))


@dataclass(frozen=True)
class Opportunity:
    """A normalised opportunity, ready to upsert."""

    external_id: str
    title: str
    description: str | None = None
    url: str | None = None
    client_name: str | None = None
    client_country: str | None = None
    required_skills: list[str] = field(default_factory=list)
    category: str | None = None
    client_budget: Decimal | None = None
    client_currency: str | None = None
    contract_type: ContractType | None = None
    budget_period: BudgetPeriod | None = None
    posted_at: datetime | None = None
    raw: dict[str, Any] | None = None

    @property
    def content_hash(self) -> str:
        """SHA-256 over the fields a reader sees, so an unchanged item is not rewritten."""
        return hashlib.sha256(_hashed_json(self).encode("utf-8")).hexdigest()


def _hashed_json(item: Opportunity) -> str:
    """The hashed fields as ``json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)``,
    where ``fields`` are ``HASHED_FIELDS`` and those of ``HASHED_WHEN_SET`` that are not ``None``.

    Stored hashes were made by that call, and a different text would rewrite every row once, so
    that text is the definition. Built here from the declared field types it is the same string
    at a quarter of the cost (the encoder's setup outweighs these few values); a value of any
    other type goes through the call itself.
    """
    parts = []
    for name, key in _HASH_KEYS:
        field_value = getattr(item, name)
        if field_value is None and name in HASHED_WHEN_SET:
            continue
        value = _json_text(field_value)
        if not value:
            return json.dumps(hashed_fields(item), sort_keys=True, default=str, ensure_ascii=False)
        parts.append(key + value)
    return "{" + ", ".join(parts) + "}"


def hashed_fields(item: Opportunity) -> dict[str, Any]:
    """The fields the content hash covers, by name (the definition ``_hashed_json`` follows)."""
    payload = {name: getattr(item, name) for name in HASHED_FIELDS}
    payload.update({name: getattr(item, name) for name in HASHED_WHEN_SET if getattr(item, name) is not None})
    return payload


def _json_text(value: Any) -> str:
    """``value`` as json.dumps writes it for the declared field types; "" for any other type."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return encode_basestring(value)
    if isinstance(value, datetime) or type(value) is Decimal:
        return encode_basestring(str(value))  # what default=str hands back to the encoder
    if isinstance(value, list):
        try:
            return "[" + ", ".join(map(encode_basestring, value)) + "]"
        except TypeError:  # encode_basestring takes strings only
            return ""
    return ""


def format_budget(amount: Decimal | None, currency: str | None, period: str | None) -> str:
    """A budget as every listing shows it: "75 USD/h", "474400 PLN/yr", "500 USD fixed", "1200 EUR"
    (period unknown); "" without an amount. Whole amounts lose their ".00"."""
    if amount is None:
        return ""
    number = f"{amount:f}"
    if "." in number:
        number = number.rstrip("0").rstrip(".")
    text = f"{number} {currency}" if currency else number
    return text + PERIOD_SUFFIXES.get(period or "", "")
