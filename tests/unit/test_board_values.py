"""What job boards say in their own fields, read one way: periods named by a field ("per-year-salary",
"1 YEAR"), structured salary ranges, and where a job is done (workplace and locations in one line)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from charlee_collector.normalize.budgets import Budget, budget_fields, named_period, salary_range
from charlee_collector.normalize.workplaces import place, workplace, workplace_in_text, workplace_of_flags


@pytest.mark.parametrize(
    ("value", "period"),
    [
        ("per-year-salary", "year"),  # Lever
        ("per-month-salary", "month"),
        ("per-hour-wage", "hour"),
        ("per-day-wage", "day"),
        ("one-time", "fixed"),
        ("1 YEAR", "year"),  # Ashby
        ("1 HOUR", "hour"),
        ("1 TIME", "fixed"),
        ("month", "month"),  # Recruitee
        ("YEARLY", "year"),
        ("2 WEEK", None),  # no period of ours is two weeks
        ("6 MONTH", None),
        ("NONE", None),
        ("", None),
        (None, None),
        (12, None),
    ],
)
def test_named_period(value, period):
    assert named_period(value) == period


@pytest.mark.parametrize(
    ("low", "high", "currency", "period", "expected"),
    [
        (
            80000,
            95000,
            "eur",
            "year",
            Budget(Decimal("95000.00"), "EUR", None, Decimal("80000.00"), Decimal("95000.00"), "year"),
        ),
        (
            "60",
            "85",
            "EUR",
            "hour",
            Budget(Decimal("85.00"), "EUR", "hourly", Decimal("60.00"), Decimal("85.00"), "hour"),
        ),
        (
            4000,
            "",
            "EUR",
            "month",
            Budget(Decimal("4000.00"), "EUR", None, Decimal("4000.00"), None, "month"),
        ),
        (None, 1500, "£", None, Budget(Decimal("1500.00"), None, None, None, Decimal("1500.00"), None)),
        (
            90,
            70,
            "USD",
            "fixed",
            Budget(Decimal("90.00"), "USD", "fixed_price", Decimal("90.00"), Decimal("70.00"), "fixed"),
        ),
    ],
)
def test_salary_range_takes_the_upper_end(low, high, currency, period, expected):
    assert salary_range(low, high, currency, period) == expected


@pytest.mark.parametrize(("low", "high"), [(None, None), (0, 0), ("", "n/a"), (True, -5), ({}, [])])
def test_salary_range_without_a_positive_amount(low, high):
    assert salary_range(low, high, "USD", "year") is None


def test_budget_fields():
    assert budget_fields(None) == dict.fromkeys(
        ("client_budget", "client_currency", "contract_type", "budget_period")
    )
    assert budget_fields(salary_range(1, 2, "USD", "hour"))["contract_type"] == "hourly"


@pytest.mark.parametrize(
    ("value", "where"),
    [
        ("onsite", "onsite"),
        ("OnSite", "onsite"),
        ("on_site", "onsite"),
        ("on-site", "onsite"),
        ("Remote", "remote"),
        ("HYBRID", "hybrid"),
        ("unspecified", None),
        ("", None),
        (None, None),
        (["remote"], None),
    ],
)
def test_workplace_from_a_boards_field(value, where):
    assert workplace(value) == where


def test_workplace_from_flags():
    assert workplace_of_flags(remote=True, hybrid=True) == "hybrid"
    assert workplace_of_flags(remote=True, onsite=False) == "remote"
    assert workplace_of_flags(remote=False, hybrid=False, onsite=True) == "onsite"
    assert workplace_of_flags(remote=False) is None  # "not remote" is not "on-site"
    assert workplace_of_flags(remote="true") is None  # only JSON true counts


@pytest.mark.parametrize(
    ("text", "where"),
    [("Remote - India", "remote"), ("Berlin (Hybrid)", "hybrid"), ("Remoteville", None), ("Bangalore", None)],
)
def test_workplace_in_a_location(text, where):
    assert workplace_in_text(text) == where


@pytest.mark.parametrize(
    ("where", "locations", "line"),
    [
        ("hybrid", ["Utrecht", "Amsterdam", "Utrecht"], "Hybrid: Utrecht; Amsterdam"),
        ("remote", [], "Remote"),
        ("remote", ["Remote, USA Only"], "Remote, USA Only"),
        ("onsite", [None, "  Bengaluru  "], "On-site: Bengaluru"),
        (None, ["Lisbon, PT", {"city": "x"}], "Lisbon, PT"),
        (None, [], None),
    ],
)
def test_place(where, locations, line):
    assert place(where, locations) == line
