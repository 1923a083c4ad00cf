"""The one opportunity shape every source normalises to, matching ``freelance_opportunities``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
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
        payload = {name: getattr(self, name) for name in HASHED_FIELDS}
        encoded = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
        return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
