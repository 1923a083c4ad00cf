"""normalize/alert_rules.py: a rule validated whole (one line naming the field) and matched with
the filters' rules: whole-word keywords, like-with-like budget minimums."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from charlee_collector.core.errors import InvalidAlertRule
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.alert_rules import alert_rule_document, parse_alert_rule, rule_matches

CHANNEL = {"channel": "slack", "secret": "charlee/prod/alerts/me"}


def rule(**fields: Any):
    return parse_alert_rule({**CHANNEL, **fields})


def item(title: str = "Senior Python developer", **fields: Any) -> Opportunity:
    return Opportunity(external_id="1", title=title, **fields)


def test_an_empty_rule_lets_every_job_through_instantly() -> None:
    empty = rule()
    assert empty.mode == "instant"
    assert rule_matches(empty, item(), source="remotive", score=None)
    assert alert_rule_document(empty) == {**CHANNEL, "keywords": [], "sources": [], "contract_types": [],
                                          "mode": "instant", "timezone": "UTC"}  # fmt: skip


def test_minimum_score_refuses_lower_and_unscored_jobs() -> None:
    seventy = rule(min_score=70)
    assert rule_matches(seventy, item(), source="remotive", score=70)
    assert not rule_matches(seventy, item(), source="remotive", score=69)
    assert not rule_matches(seventy, item(), source="remotive", score=None)


def test_keywords_are_whole_words_as_in_the_filters() -> None:
    go = rule(keywords=["go", "C++"])
    assert rule_matches(go, item("Go engineer"), source="remotive", score=None)
    assert rule_matches(go, item("Embedded", required_skills=["c++"]), source="remotive", score=None)
    assert not rule_matches(go, item("A good engineer"), source="remotive", score=None)


def test_sources_contract_types_and_budget_minimums_per_period() -> None:
    strict = rule(sources=["remotive"], contract_types=["hourly"], min_budget=["60/hour", "5000/fixed"])
    hourly = item(contract_type="hourly", client_budget=Decimal(80), budget_period="hour")
    assert rule_matches(strict, hourly, source="remotive", score=None)
    assert not rule_matches(strict, hourly, source="hn_freelancer", score=None)
    assert not rule_matches(strict, item(contract_type="fixed_price"), source="remotive", score=None)
    cheap = item(contract_type="hourly", client_budget=Decimal(40), budget_period="hour")
    assert not rule_matches(strict, cheap, source="remotive", score=None)
    # Like with like: a yearly salary has no minimum here, and no budget at all passes.
    yearly = item(contract_type="hourly", client_budget=Decimal(40), budget_period="year")
    assert rule_matches(strict, yearly, source="remotive", score=None)
    assert rule_matches(strict, item(contract_type="hourly"), source="remotive", score=None)


def test_sources_are_checked_against_the_known_ones_when_given() -> None:
    from charlee_collector.sources import SOURCE_KEYS

    with pytest.raises(InvalidAlertRule, match=r"field 'sources\.1': unknown source 'myspace'"):
        parse_alert_rule({**CHANNEL, "sources": ["remotive", "myspace"]}, known_sources=SOURCE_KEYS)
    # A stored rule reads without the list: a source retired since does not break it.
    assert rule(sources=["myspace"]).sources == ["myspace"]


def test_digest_schedules() -> None:
    weekly = rule(mode="digest", every="weekly", hour=8, weekday="mon", timezone="Europe/Lisbon")
    assert (weekly.every, weekly.hour, weekly.weekday) == ("weekly", 8, "mon")


@pytest.mark.parametrize(
    ("fields", "names"),
    [
        ({"min_score": 101}, "'min_score'"),
        ({"keywords": [" "]}, "'keywords.0'"),
        ({"min_budget": "60/fortnight"}, "'min_budget'"),
        ({"contract_types": ["salaried"]}, "'contract_types.0'"),
        ({"mode": "hourly"}, "'mode'"),
        ({"channel": "pigeon"}, "'channel'"),
        ({"secret": ""}, "'secret'"),
        ({"mode": "digest", "every": "daily"}, "'hour'"),
        ({"mode": "digest", "every": "weekly", "hour": 8}, "'weekday'"),
        ({"every": "daily"}, "mode digest only"),
        ({"mode": "digest", "every": "daily", "hour": 24}, "'hour'"),
        ({"mode": "digest", "every": "daily", "hour": 8, "timezone": "Mars/Base"}, "'timezone'"),
        ({"keyword": ["x"]}, "its keys are"),
    ],
)
def test_each_invalid_field_is_named_on_one_line(fields: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidAlertRule) as raised:
        rule(**fields)
    message = str(raised.value)
    assert "\n" not in message and names in message, message


def test_a_digest_is_due_at_its_local_hour_once_a_period() -> None:
    from datetime import UTC, datetime

    from charlee_collector.normalize.alert_rules import digest_due

    daily = rule(mode="digest", every="daily", hour=8, timezone="America/Sao_Paulo")  # UTC-3
    at_8 = datetime(2026, 12, 7, 11, 5, tzinfo=UTC)  # 08:05 in São Paulo
    assert digest_due(daily, None, at_8)
    assert not digest_due(daily, None, datetime(2026, 12, 7, 8, 5, tzinfo=UTC))  # 05:05 there
    assert not digest_due(daily, datetime(2026, 12, 7, 11, 0, 30, tzinfo=UTC), at_8)  # sent this hour
    assert digest_due(daily, datetime(2026, 12, 6, 11, 0, tzinfo=UTC), at_8)  # yesterday's
    weekly = rule(mode="digest", every="weekly", hour=8, weekday="mon", timezone="America/Sao_Paulo")
    assert digest_due(weekly, None, at_8)  # 2026-12-07 is a Monday
    assert not digest_due(weekly, None, datetime(2026, 12, 8, 11, 5, tzinfo=UTC))
    assert not digest_due(rule(), None, at_8)  # an instant rule has no digest
