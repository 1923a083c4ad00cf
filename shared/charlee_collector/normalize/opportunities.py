"""The one opportunity shape: HTML to text, budgets, dates, column cuts, stable ids.

Every adapter in ``sources/`` hands its raw values to ``build_opportunity``, which is the only
place that makes them safe to store: text loses NUL bytes and lone surrogates (PostgreSQL
rejects both), values wider than a column (``core.limits.LIMITS``) are cut instead of rejected,
budgets that do not fit ``Numeric(14, 2)`` are dropped, and only http(s) links are kept.
HTML with tags is read from its first ``MAX_HTML_CHARS`` characters only, so one
description's tree stays small whatever a platform sends; tag-free text is kept whole.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from charlee_collector.core.limits import BUDGET_PERIODS, LIMITS
from charlee_collector.core.opportunity import BudgetPeriod, Opportunity
from charlee_collector.core.text import clean_text
from charlee_collector.normalize.budgets import PERIOD_CONTRACTS, bounded_budget
from charlee_collector.normalize.dates import believable_posting_date, parse_datetime
from charlee_collector.normalize.html import html_to_text
from charlee_collector.normalize.json_values import json_safe
from charlee_collector.normalize.text import clean_skills, cut, first_line, one_line

log = logging.getLogger(__name__)


def external_id_from_url(url: str) -> str:
    """A stable id for items that carry none: the SHA-256 of their URL."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def _safe_url(value: Any) -> str | None:
    url = one_line(value)
    # Only web links: a javascript: or data: URL from a feed would be an XSS vector in the app.
    if url is None or not url.lower().startswith(("http://", "https://")):
        return None
    return cut(url, LIMITS["url"])


def _safe_external_id(external_id: Any, url: str | None) -> str | None:
    ident = one_line(external_id)
    if ident is None:
        return external_id_from_url(url) if url else None
    # Cutting two long ids could make them equal; hashing keeps them distinct and stable.
    return ident if len(ident) <= LIMITS["external_id"] else external_id_from_url(ident)


def build_opportunity(
    *,
    external_id: Any,
    title: Any,
    description: Any = None,
    description_html: Any = None,
    url: Any = None,
    client_name: Any = None,
    client_country: Any = None,
    required_skills: Any = None,
    category: Any = None,
    client_budget: Decimal | None = None,
    client_currency: Any = None,
    contract_type: str | None = None,
    budget_period: str | None = None,
    posted_at: Any = None,
    raw: Mapping[str, Any] | None = None,
) -> Opportunity | None:
    """An ``Opportunity`` cut and cleaned for storage, or ``None`` when it has no id or title.

    ``description_html`` is converted to text when ``description`` is not given. A missing
    title falls back to the first line of the description; a missing id to the URL's hash.
    A budget's period and contract type complete each other: an hourly contract's budget is
    per hour and a fixed-price one's is the project's price, and the reverse. Without a budget
    there is no period.
    """
    text = clean_text(description) if description is not None else html_to_text(description_html)
    link = _safe_url(url)
    ident = _safe_external_id(external_id, link)
    heading = one_line(title) or one_line(first_line(text))
    if ident is None or heading is None:
        log.debug("skipping an item without id or title (url=%s)", link)
        return None
    currency = one_line(client_currency)
    budget = bounded_budget(client_budget)
    contract = contract_type if contract_type in _CONTRACT_PERIODS else None
    period = budget_period if budget_period in BUDGET_PERIODS else _CONTRACT_PERIODS.get(contract or "")
    if budget is None:
        period = None
    elif contract is None:
        contract = PERIOD_CONTRACTS.get(period or "")
    return Opportunity(
        external_id=ident,
        title=cut(heading, LIMITS["title"]) or heading,
        description=text,
        url=link,
        client_name=cut(one_line(client_name), LIMITS["client_name"]),
        client_country=cut(one_line(client_country), LIMITS["client_country"]),
        required_skills=clean_skills(required_skills or []),
        category=cut(one_line(category), LIMITS["category"]),
        client_budget=budget,
        client_currency=cut(currency.upper(), LIMITS["client_currency"]) if currency else None,
        contract_type=contract,  # type: ignore[arg-type]
        budget_period=period,  # type: ignore[arg-type]
        posted_at=believable_posting_date(parse_datetime(posted_at)),
        raw=json_safe(raw if type(raw) is dict else dict(raw)) if raw is not None else None,
    )


def dedupe(items: Iterable[Opportunity]) -> list[Opportunity]:
    """Items with the first occurrence of each ``external_id`` kept: one bulk upsert cannot touch
    the same row twice (PostgreSQL's ON CONFLICT refuses it), and pages of an API can overlap.
    """
    seen: set[str] = set()
    unique: list[Opportunity] = []
    for item in items:
        if item.external_id not in seen:
            seen.add(item.external_id)
            unique.append(item)
    return unique


_CONTRACT_PERIODS: dict[str, BudgetPeriod] = {"hourly": "hour", "fixed_price": "fixed"}
