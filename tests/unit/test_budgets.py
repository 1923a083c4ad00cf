"""Budget periods in normalize.py and opportunity.py: read from text, completed from the contract
type, hashed only when known, and written the one way every listing shows them."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from decimal import Decimal
from typing import get_args

import pytest

from charlee_collector.core.limits import BUDGET_PERIODS
from charlee_collector.core.opportunity import HASHED_FIELDS, BudgetPeriod, Opportunity, format_budget
from charlee_collector.normalize.budgets import budget_period, parse_budget, stated_budget
from charlee_collector.normalize.opportunities import build_opportunity


def test_the_periods_are_the_columns_allowed_values():
    assert get_args(BudgetPeriod) == BUDGET_PERIODS


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("$50-$75 /hour", "hour"),
        ("$18 - $22/hr", "hour"),
        ("40 USD per hour", "hour"),
        ("$600/day", "day"),
        ("£500 per day", "day"),
        ("$1,200/wk", "week"),
        ("£800 weekly", "week"),
        ("€4,000 - €5,000 per month", "month"),
        ("$5k/mo", "month"),
        ("$120k/year", "year"),
        ("€60k p.a.", "year"),
        ("$90,000 annually", "year"),
        ("$2,000 fixed", "fixed"),
        ("$80k - $100k", None),
        ("$12K", None),
    ],
)
def test_parse_budget_reads_the_period_the_text_states(text, period):
    budget = parse_budget(text)
    assert budget is not None and budget.period == period
    assert budget.contract_type == {"hour": "hourly", "fixed": "fixed_price"}.get(period or "")


@pytest.mark.parametrize(
    ("word", "period"),
    [("hourly", "hour"), ("yearly", "year"), ("Monthly", "month"), ("annual", "year"), ("fixed", "fixed")],
)
def test_a_field_naming_the_period(word, period):
    assert budget_period(word) == period


def test_budget_period_of_nothing():
    assert budget_period(None) is None and budget_period("whenever") is None


def test_stated_budget_finds_the_figure_in_the_text():
    text = "Lead the team.\nSalary Range: PLN 350,700 - 474,400 + Benefits\nApply by mail."
    found = stated_budget(text, Decimal(474400))
    assert found is not None and (found.currency, found.minimum) == ("PLN", Decimal("350700.00"))
    assert stated_budget(text, Decimal(350700)) == found  # either end names the same range
    assert stated_budget(text, Decimal(90000)) is None  # the text never states that figure
    assert stated_budget(None, Decimal(1)) is None and stated_budget(text, None) is None
    written_short = stated_budget("Founded 2015. Pay: €120k - €150k a year, remote.", Decimal(150000))
    assert written_short is not None and (written_short.currency, written_short.period) == ("EUR", "year")
    hourly = stated_budget("8-20 hrs/week. Pay: $80 - $140/hour.", Decimal(140))
    assert hourly is not None and (hourly.currency, hourly.period) == ("USD", "hour")


def _build(**fields):
    item = build_opportunity(external_id="1", title="t", **fields)
    assert item is not None
    return item.client_budget, item.budget_period, item.contract_type


def test_build_opportunity_completes_period_and_contract_type():
    assert _build(client_budget=Decimal(40), contract_type="hourly") == (Decimal("40.00"), "hour", "hourly")
    assert _build(client_budget=Decimal(500), contract_type="fixed_price")[1] == "fixed"
    assert _build(client_budget=Decimal(40), budget_period="hour")[2] == "hourly"
    assert _build(client_budget=Decimal(900), budget_period="fixed")[2] == "fixed_price"
    assert _build(client_budget=Decimal(90000), budget_period="year") == (Decimal("90000.00"), "year", None)
    assert _build(client_budget=Decimal(5), budget_period="fortnight")[1] is None  # not a period
    assert _build(client_budget=None, budget_period="year") == (None, None, None)  # no budget, no period


def test_a_known_period_is_hashed_and_an_unknown_one_is_not():
    item = Opportunity(external_id="1", title="t", client_budget=Decimal("75.00"), client_currency="USD")
    # Rows stored before periods existed keep their hash: the field is left out while unknown.
    before = {name: getattr(item, name) for name in HASHED_FIELDS}
    old_hash = hashlib.sha256(
        json.dumps(before, sort_keys=True, default=str, ensure_ascii=False).encode()
    ).hexdigest()
    assert item.content_hash == old_hash
    hourly = replace(item, budget_period="hour")
    assert hourly.content_hash != item.content_hash
    assert replace(item, budget_period="year").content_hash not in (item.content_hash, hourly.content_hash)


@pytest.mark.parametrize(
    ("amount", "currency", "period", "text"),
    [
        ("75.00", "USD", "hour", "75 USD/h"),
        ("474400.00", "PLN", "year", "474400 PLN/yr"),
        ("600", "EUR", "day", "600 EUR/d"),
        ("1200.50", "GBP", "week", "1200.5 GBP/wk"),
        ("5000", "USD", "month", "5000 USD/mo"),
        ("2000", "USD", "fixed", "2000 USD fixed"),
        ("1200", None, None, "1200"),
        ("100000.00", "USD", None, "100000 USD"),
    ],
)
def test_format_budget(amount, currency, period, text):
    assert format_budget(Decimal(amount), currency, period) == text


def test_format_budget_without_an_amount():
    assert format_budget(None, "USD", "hour") == ""
