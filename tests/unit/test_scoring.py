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


# The score as first written, everything read from the profile for each item: the reference a
# Scorer (the profile's part worked out once) must agree with.
def _score_by_the_rule(item: Opportunity, profile: Any, now: datetime) -> tuple[int, dict[str, Any]]:
    from charlee_collector.core.opportunity import format_budget
    from charlee_collector.normalize.duplicate_keys import company_key
    from charlee_collector.normalize.filters import first_whole_word, searchable_text, whole_words_in

    text = searchable_text(item, description_chars=SCORED_TEXT_CHARS)
    skills = profile.skills
    if skills:
        matched = sorted(whole_words_in(text, skills), key=lambda skill: (-skills[skill], skill))
        full = sum(sorted(skills.values(), reverse=True)[:3])
        share = min(1.0, sum(skills[skill] for skill in matched) / full)
        skills_part: list[Any] = [round(50 * share, 1), matched]
    else:
        skills_part = [25.0, None]
    budget: list[Any] = [10.0, None, None]
    if item.client_budget is not None:
        shown = format_budget(item.client_budget, item.client_currency, item.budget_period)
        floor = profile.min_budget.floor(item.budget_period) if profile.min_budget else None
        budget = [10.0, shown, None]
        if floor is not None:
            ratio = 1.0 if item.client_budget >= floor else float(item.client_budget / floor)
            budget = [round(20 * ratio, 1), shown, f"{floor:f}"]
    fresh: list[Any] = [7.5, None]
    if item.posted_at is not None:
        days = max((now - item.posted_at) / timedelta(days=1), 0.0)
        ratio = 1.0 if days <= 1 else max(0.0, (14 - days) / 13)
        fresh = [round(15 * ratio, 1), round(days, 1)]
    contract: list[Any] = [7.5, item.contract_type, None]
    if profile.contract_types and item.contract_type is not None:
        wanted = item.contract_type in profile.contract_types
        contract = [15 if wanted else 0, item.contract_type, wanted]
    reasons = {"skills": skills_part, "budget": budget, "freshness": fresh, "contract": contract}
    excluded = None
    hit = first_whole_word(text, profile.exclude_keywords) if profile.exclude_keywords else None
    if hit is not None:
        excluded = f"keyword {hit!r}"
    elif profile.exclude_companies and item.client_name:
        key = company_key(item.client_name)
        if key and key in {company_key(name) for name in profile.exclude_companies}:
            excluded = f"company {item.client_name!r}"
    if excluded:
        reasons["excluded"] = excluded
        return 0, reasons
    return min(100, round(sum(part[0] for part in reasons.values()))), reasons


_PROFILES = [
    PROFILE,
    parse_profile({}),
    # Ties in weight are listed by name ("aws" before "rust"); skills with punctuation and accents.
    parse_profile(
        {
            "skills": {
                "Rust": 2,
                "AWS": 2,
                "C++": 4,
                "Node.js": 3,
                ".NET": 1,
                "machine learning": 4,
                "Über": 1,
            },
            "min_budget": "50",
            "contract_types": ["fixed_price", "hourly"],
            "exclude_keywords": ["Web3", "go"],
            "exclude_companies": ["ACME Inc", "Café Ltd"],
        }
    ),
    parse_profile({"skills": {"python": 1}, "min_budget": ["500/day", "1000/fixed"]}),
]
_TEXTS = [
    "Senior C++ engineer (Node.js, .NET)",
    "Machine Learning on AWS; rust and über-Rust",
    "web3 startup in Go",
    "Pythonic djangos, c+, net",
    "über CAFÉ",
    "",
]


@pytest.mark.parametrize("profile", _PROFILES)
def test_a_scorer_agrees_with_the_rule_on_varied_items(profile: Any) -> None:
    from charlee_collector.normalize.scoring import Scorer

    scorer = Scorer(profile)
    items = [
        _item(
            title=title,
            description=description,
            required_skills=skills,
            client_name=client,
            client_budget=budget,
            budget_period=period,
            contract_type=contract,
            posted_at=posted,
        )
        for title, description, skills, client, budget, period, contract, posted in [
            (_TEXTS[0], _TEXTS[1], ["AWS"], "Acme, Inc.", Decimal("40.5"), "hour", "hourly", NOW),
            (_TEXTS[1], None, [], None, None, None, None, None),
            (
                _TEXTS[2],
                _TEXTS[4],
                ["rust"],
                "café",
                Decimal(600),
                "day",
                "fixed_price",
                NOW - timedelta(days=3),
            ),
            (_TEXTS[3], "", ["C++"], "", Decimal(1200), "fixed", None, NOW + timedelta(hours=2)),
            (_TEXTS[4], "x " * SCORED_TEXT_CHARS + "python", [], "Initech", Decimal(70), None, "hourly", NOW),
            (_TEXTS[5], _TEXTS[0], ["machine learning"], "Evil Corp", Decimal(0), "year", "hourly", NOW),
        ]
    ]
    for item in items:
        score = scorer.score(item, now=NOW)
        assert (score.total, score.reasons) == _score_by_the_rule(item, profile, NOW)
        assert score == score_opportunity(item, profile, now=NOW)
        # The stored text too: 25.0 stays 25.0, never 25.
        import json

        assert json.dumps(score.reasons) == json.dumps(_score_by_the_rule(item, profile, NOW)[1])
