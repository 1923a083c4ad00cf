"""How well an opportunity fits its owner's profile: a score of 0-100 made of parts one can read.

Parts and their most points (``WEIGHTS``): ``skills`` 50 (the weight of the profile's skills found
as whole words, by the filters' rule, in the title, skills and the first ``SCORED_TEXT_CHARS`` of
the description, over the weight of the profile's ``FULL_MARKS_SKILLS`` heaviest skills),
``budget`` 20 (the item's amount against the profile's minimum for the same period: full at or
above it, in proportion below), ``freshness`` 15 (full for a day, then down to none at
``STALE_DAYS``), ``contract`` 15 (one of the preferred contract types or not). A part the profile
states no preference for, or the item gives no data for, gets half its points: it neither helps
nor hurts. An excluded keyword or company makes the score 0, and the parts say which.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from charlee_collector.core.opportunity import Opportunity, format_budget
from charlee_collector.normalize.duplicate_keys import company_key
from charlee_collector.normalize.filters import searchable_text, word_pattern
from charlee_collector.normalize.profiles import Profile

WEIGHTS = {"skills": 50, "budget": 20, "freshness": 15, "contract": 15}
# Bounded cost: a skill a job asks for is named early; the whole of a 20 KB description through
# the pattern cost 0.4 ms an item.
SCORED_TEXT_CHARS = 2000
FULL_MARKS_SKILLS = 3
FRESH_DAYS = 1
STALE_DAYS = 14


@dataclass(frozen=True)
class Score:
    """A total of 0-100 and the parts it is the sum of (``reasons``: stored as ``score_reasons``)."""

    total: int
    reasons: dict[str, Any]


def _part(name: str, points: float, why: str, **extra: Any) -> dict[str, Any]:
    return {"points": round(points, 1), "max": WEIGHTS[name], "why": why, **extra}


def _neutral(name: str, why: str) -> dict[str, Any]:
    return _part(name, WEIGHTS[name] / 2, why)


def _skills(text: str, profile: Profile) -> dict[str, Any]:
    if not profile.skills:
        return _neutral("skills", "the profile names no skills")
    found = set(word_pattern(tuple(profile.skills)).findall(text))
    matched = sorted(found, key=lambda skill: (-profile.skills[skill], skill))
    heaviest = sorted(profile.skills.values(), reverse=True)[:FULL_MARKS_SKILLS]
    share = min(1.0, sum(profile.skills[skill] for skill in matched) / sum(heaviest))
    why = f"matched {', '.join(matched)}" if matched else "none of the profile's skills"
    return _part("skills", WEIGHTS["skills"] * share, why, matched=matched)


def _budget(item: Opportunity, profile: Profile) -> dict[str, Any]:
    if item.client_budget is None:
        return _neutral("budget", "no budget stated")
    floor = profile.min_budget.floor(item.budget_period) if profile.min_budget else None
    shown = format_budget(item.client_budget, item.client_currency, item.budget_period)
    if floor is None:
        return _neutral("budget", f"{shown}: no minimum for its period")
    if floor == 0 or item.client_budget >= floor:
        return _part("budget", WEIGHTS["budget"], f"{shown} meets the minimum {floor:f}")
    share = float(item.client_budget / floor) if floor else 0.0
    return _part("budget", WEIGHTS["budget"] * share, f"{shown} is below the minimum {floor:f}")


def _freshness(item: Opportunity, now: datetime) -> dict[str, Any]:
    if item.posted_at is None:
        return _neutral("freshness", "undated")
    age = max(now - item.posted_at, timedelta(0))
    days = age / timedelta(days=1)
    share = 1.0 if days <= FRESH_DAYS else max(0.0, (STALE_DAYS - days) / (STALE_DAYS - FRESH_DAYS))
    return _part("freshness", WEIGHTS["freshness"] * share, f"posted {days:.1f} days before scoring")


def _contract(item: Opportunity, profile: Profile) -> dict[str, Any]:
    if not profile.contract_types:
        return _neutral("contract", "the profile prefers no contract type")
    if item.contract_type is None:
        return _neutral("contract", "contract type not stated")
    wanted = item.contract_type in profile.contract_types
    return _part(
        "contract",
        WEIGHTS["contract"] if wanted else 0,
        f"{item.contract_type} is {'' if wanted else 'not '}preferred",
    )


@lru_cache(maxsize=256)
def _company_keys(names: tuple[str, ...]) -> frozenset[str | None]:
    return frozenset(company_key(name) for name in names)


def _exclusion(item: Opportunity, text: str, profile: Profile) -> str | None:
    if profile.exclude_keywords:
        hit = word_pattern(tuple(profile.exclude_keywords)).search(text)
        if hit:
            return f"excluded keyword {hit.group(0)!r}"
    if profile.exclude_companies and item.client_name:
        key = company_key(item.client_name)
        if key and key in _company_keys(tuple(profile.exclude_companies)):
            return f"excluded company {item.client_name!r}"
    return None


def score_opportunity(item: Opportunity, profile: Profile, *, now: datetime) -> Score:
    """The score of ``item`` for ``profile`` at ``now`` (module docstring)."""
    text = searchable_text(item, description_chars=SCORED_TEXT_CHARS)
    parts = {
        "skills": _skills(text, profile),
        "budget": _budget(item, profile),
        "freshness": _freshness(item, now),
        "contract": _contract(item, profile),
    }
    excluded = _exclusion(item, text, profile)
    total = 0 if excluded else min(100, max(0, round(sum(part["points"] for part in parts.values()))))
    reasons: dict[str, Any] = {"total": total, "parts": parts}
    if excluded:
        reasons["excluded"] = excluded
    return Score(total, reasons)
