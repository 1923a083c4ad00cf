"""normalize/scoring.py and profiles.py: a profile validated field by field, and a score of 0-100
whose parts say why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from charlee_collector.core.errors import InvalidProfile
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.profiles import parse_profile, profile_document
from charlee_collector.normalize.scoring import SCORED_TEXT_CHARS, WEIGHTS, explain, score_opportunity

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
PROFILE = parse_profile(
    {
        "skills": {"Python": 5, "django": 3, "aws": 2, "rust": 1},
        "min_budget": ["60/hour", "90000/year"],
        "contract_types": ["hourly"],
        "exclude_keywords": ["crypto"],
        "exclude_companies": ["Evil Corp"],
    }
)


def _item(**fields: Any) -> Opportunity:
    values: dict[str, Any] = {
        "external_id": "1",
        "title": "Senior Python engineer",
        "description": "Django services on AWS.",
        "client_budget": Decimal(90),
        "client_currency": "USD",
        "budget_period": "hour",
        "contract_type": "hourly",
        "posted_at": NOW - timedelta(hours=3),
        "client_name": "Initech",
    }
    return Opportunity(**{**values, **fields})


def test_a_job_matching_everything_scores_100_and_says_why() -> None:
    score = score_opportunity(_item(), PROFILE, now=NOW)
    assert score.total == 100
    assert score.reasons["skills"] == [50.0, ["python", "django", "aws"]]
    assert [line[3] for line in explain(score.reasons)] == [
        "matched python, django, aws",
        "90 USD/h meets the minimum 60",
        "posted 0.1 days before scoring",
        "hourly is preferred",
    ]


@pytest.mark.parametrize(
    ("fields", "part", "points"),
    [
        # Whole words by the filters' rule: "pythonic" and "Djangos" are no match.
        ({"title": "Pythonic Djangos", "description": None}, "skills", 0.0),
        # The three heaviest skills (5+3+2) give full marks; python alone half of them.
        ({"description": None}, "skills", 25.0),
        # Budget: like with like, in proportion below the minimum; no minimum for the period: neutral.
        ({"client_budget": Decimal(30)}, "budget", 10.0),
        ({"client_budget": Decimal(30), "budget_period": "month"}, "budget", 10.0),
        ({"client_budget": Decimal(45000), "budget_period": "year"}, "budget", 10.0),
        ({"client_budget": None}, "budget", 10.0),
        # Freshness: full for a day, nothing at 14 days, half when undated.
        ({"posted_at": NOW - timedelta(days=14)}, "freshness", 0.0),
        ({"posted_at": NOW - timedelta(days=7.5)}, "freshness", 7.5),
        ({"posted_at": None}, "freshness", 7.5),
        ({"contract_type": "fixed_price"}, "contract", 0),
        ({"contract_type": None}, "contract", 7.5),
    ],
)
def test_each_part(fields: dict[str, Any], part: str, points: float) -> None:
    assert score_opportunity(_item(**fields), PROFILE, now=NOW).reasons[part][0] == points


def test_exclusions_make_the_score_0_and_say_which() -> None:
    keyword = score_opportunity(_item(description="A crypto exchange in Python."), PROFILE, now=NOW)
    company = score_opportunity(_item(client_name="EVIL CORP, Inc."), PROFILE, now=NOW)
    assert (keyword.total, keyword.reasons["excluded"]) == (0, "keyword 'crypto'")
    assert (company.total, company.reasons["excluded"]) == (0, "company 'EVIL CORP, Inc.'")
    assert explain(company.reasons)[-1] == (
        "excluded",
        0,
        0,
        "excluded company 'EVIL CORP, Inc.': the score is 0",
    )
    # Whole words here too: "cryptography" is not "crypto".
    assert score_opportunity(_item(description="Cryptography in Python."), PROFILE, now=NOW).total > 0


def test_an_empty_profile_is_neutral_on_every_part() -> None:
    score = score_opportunity(_item(), parse_profile({}), now=NOW)
    assert [score.reasons[part][0] for part in WEIGHTS] == [25.0, 10.0, 15.0, 7.5]
    assert score.total == 58


def test_only_the_start_of_a_long_description_is_searched() -> None:
    late = _item(title="Engineer", description="x " * SCORED_TEXT_CHARS + "rust")
    assert score_opportunity(late, PROFILE, now=NOW).reasons["skills"] == [0.0, []]


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"skills": {"python": 0}}, "skills.python"),
        ({"skills": {"python": "a lot"}}, "skills.python"),
        ({"min_budget": "60/fortnight"}, "min_budget"),
        ({"contract_types": ["salaried"]}, "contract_types.0"),
        ({"timezone": "Mars/Base"}, "timezone"),
        ({"skils": {"python": 1}}, "skils"),
        ({"exclude_keywords": [""]}, "exclude_keywords.0"),
    ],
)
def test_an_invalid_profile_is_one_line_naming_the_field(document: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidProfile) as raised:
        parse_profile(document)
    message = str(raised.value)
    assert f"field '{field}'" in message and "\n" not in message


def test_a_profile_round_trips_through_its_document() -> None:
    document = profile_document(PROFILE)
    assert document["skills"] == {"python": 5, "django": 3, "aws": 2, "rust": 1}
    assert document["min_budget"] == ["60/hour", "90000/year"]
    assert parse_profile(document) == PROFILE
