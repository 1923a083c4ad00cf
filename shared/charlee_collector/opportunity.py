"""The one opportunity shape every source normalises to, matching ``freelance_opportunities``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any, Literal

ContractType = Literal["fixed_price", "hourly"]

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
# The hash is defined by json.dumps(sort_keys=True, ...): its keys in that order, pre-quoted.
_HASH_KEYS = tuple((name, f'"{name}": ') for name in sorted(HASHED_FIELDS))


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
    posted_at: datetime | None = None
    raw: dict[str, Any] | None = None

    @property
    def content_hash(self) -> str:
        """SHA-256 over the fields a reader sees, so an unchanged item is not rewritten."""
        return hashlib.sha256(_hashed_json(self).encode("utf-8")).hexdigest()


def _hashed_json(item: Opportunity) -> str:
    """The hashed fields as ``json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)``.

    Stored hashes were made by that call, and a different text would rewrite every row once, so
    that text is the definition. Built here from the declared field types it is the same string
    at a quarter of the cost (the encoder's setup outweighs these few values); a value of any
    other type goes through the call itself.
    """
    parts = []
    for name, key in _HASH_KEYS:
        value = _json_text(getattr(item, name))
        if not value:
            payload = {name: getattr(item, name) for name in HASHED_FIELDS}
            return json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
        parts.append(key + value)
    return "{" + ", ".join(parts) + "}"


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
