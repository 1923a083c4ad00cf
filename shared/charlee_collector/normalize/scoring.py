"""How well an opportunity fits its owner's profile: a score of 0-100 made of parts one can read.

Parts and their most points (``WEIGHTS``): ``skills`` 50 (the weight of the profile's skills found
as whole words, by the filters' rule, in the title, skills and the first ``SCORED_TEXT_CHARS`` of
the description, over the weight of the profile's ``FULL_MARKS_SKILLS`` heaviest skills),
``budget`` 20 (the item's amount against the profile's minimum for the same period: full at or
above it, in proportion below), ``freshness`` 15 (full for a day, then down to none at
``STALE_DAYS``), ``contract`` 15 (one of the preferred contract types or not). A part the profile
states no preference for, or the item gives no data for, gets half its points: it neither helps
nor hurts. An excluded keyword or company makes the score 0, and the reasons say which.

``Score.reasons`` (stored as ``score_reasons``) holds each part as ``[points, what it saw]``, the
facts only; ``explain`` turns them into sentences when someone asks.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from charlee_collector.core.opportunity import Opportunity, format_budget
from charlee_collector.normalize.duplicate_keys import company_key
from charlee_collector.normalize.filters import WholeWords, searchable_text
from charlee_collector.normalize.profiles import Profile

WEIGHTS = {"skills": 50, "budget": 20, "freshness": 15, "contract": 15}
# Bounded cost: a skill a job asks for is named in its first few thousand characters, and a
# 50 KB description is not searched whole for each skill.
SCORED_TEXT_CHARS = 4000
FULL_MARKS_SKILLS = 3
FRESH_DAYS = 1
STALE_DAYS = 14
_DAY = timedelta(days=1)


class Score(NamedTuple):
    """A total of 0-100 and the parts it is the sum of (``reasons``: stored as ``score_reasons``)."""

    total: int
    reasons: dict[str, Any]


class Scorer:
    """A profile made ready to score many items: what every score reads from it (the skills in the
    order reasons list them, full marks, the minimum of each period, the excluded keywords and
    company keys) is worked out once, not for each of a collection's items."""

    def __init__(self, profile: Profile) -> None:
        weights = profile.skills
        self._weights = weights
        # Heaviest first, then by name: matched in this order, the skills found need no sorting.
        self._skills = WholeWords(sorted(weights, key=lambda skill: (-weights[skill], skill)))
        self._full_marks = sum(sorted(weights.values(), reverse=True)[:FULL_MARKS_SKILLS])
        minimums = profile.min_budget
        floors = (
            {} if minimums is None else {period: minimums.floor(period) for period, _ in minimums.by_period}
        )
        # With the text reasons show it as, written once.
        self._floors = {
            period: (floor, f"{floor:f}") for period, floor in floors.items() if floor is not None
        }
        self._contract_types = profile.contract_types
        self._excluded_keywords = WholeWords(profile.exclude_keywords)
        self._excluded_companies = frozenset(company_key(name) for name in profile.exclude_companies)

    def score(self, item: Opportunity, *, now: datetime) -> Score:
        """The score of ``item`` at ``now`` (module docstring)."""
        text = searchable_text(item, description_chars=SCORED_TEXT_CHARS)
        reasons: dict[str, Any] = {
            "skills": self._skills_part(text),
            "budget": self._budget_part(item),
            "freshness": _freshness(item, now),
            "contract": self._contract_part(item),
        }
        excluded = self._exclusion(item, text)
        total = 0 if excluded else min(100, round(sum(reasons[part][0] for part in WEIGHTS)))
        if excluded:
            reasons["excluded"] = excluded
        return Score(total, reasons)

    def _skills_part(self, text: str) -> list[Any]:
        """[points, the skills matched, heaviest first]; [25, None] when the profile names none."""
        if not self._weights:
            return [WEIGHTS["skills"] / 2, None]
        matched = self._skills.found_in(text)
        share = min(1.0, sum(self._weights[skill] for skill in matched) / self._full_marks)
        return [round(WEIGHTS["skills"] * share, 1), matched]

    def _budget_part(self, item: Opportunity) -> list[Any]:
        """[points, the budget as listed, the minimum for its period]; None where either is absent."""
        if item.client_budget is None:
            return [WEIGHTS["budget"] / 2, None, None]
        shown = format_budget(item.client_budget, item.client_currency, item.budget_period)
        minimum = self._floors.get(item.budget_period)
        if minimum is None:
            return [WEIGHTS["budget"] / 2, shown, None]
        floor, floor_text = minimum
        share = 1.0 if item.client_budget >= floor else float(item.client_budget / floor)
        return [round(WEIGHTS["budget"] * share, 1), shown, floor_text]

    def _contract_part(self, item: Opportunity) -> list[Any]:
        """[points, the item's contract type, whether preferred]; None when either side is silent."""
        if not self._contract_types or item.contract_type is None:
            return [WEIGHTS["contract"] / 2, item.contract_type, None]
        wanted = item.contract_type in self._contract_types
        return [WEIGHTS["contract"] if wanted else 0, item.contract_type, wanted]

    def _exclusion(self, item: Opportunity, text: str) -> str | None:
        hit = self._excluded_keywords.first_in(text)
        if hit is not None:
            return f"keyword {hit!r}"
        if self._excluded_companies and item.client_name:
            key = company_key(item.client_name)
            if key and key in self._excluded_companies:
                return f"company {item.client_name!r}"
        return None


def _freshness(item: Opportunity, now: datetime) -> list[Any]:
    """[points, days between posting and scoring]; None when undated."""
    if item.posted_at is None:
        return [WEIGHTS["freshness"] / 2, None]
    days = max((now - item.posted_at) / _DAY, 0.0)
    share = 1.0 if days <= FRESH_DAYS else max(0.0, (STALE_DAYS - days) / (STALE_DAYS - FRESH_DAYS))
    return [round(WEIGHTS["freshness"] * share, 1), round(days, 1)]


def score_opportunity(item: Opportunity, profile: Profile, *, now: datetime) -> Score:
    """The score of ``item`` for ``profile`` at ``now`` (module docstring); ``Scorer`` scores many
    items against one profile."""
    return Scorer(profile).score(item, now=now)


def _sentence(part: str, facts: list[Any]) -> str:
    if part == "skills":
        matched = facts[1]
        if matched is None:
            return "the profile names no skills"
        return f"matched {', '.join(matched)}" if matched else "none of the profile's skills"
    if part == "budget":
        shown, floor = facts[1], facts[2]
        if shown is None:
            return "no budget stated"
        if floor is None:
            return f"{shown}: no minimum for its period"
        return f"{shown} {'meets' if facts[0] >= WEIGHTS['budget'] else 'is below'} the minimum {floor}"
    if part == "freshness":
        return "undated" if facts[1] is None else f"posted {facts[1]} days before scoring"
    kind, wanted = facts[1], facts[2]
    if wanted is None:
        return "contract type not stated" if kind is None else "the profile prefers no contract type"
    return f"{kind} is {'' if wanted else 'not '}preferred"


def explain(reasons: dict[str, Any]) -> list[tuple[str, float, int, str]]:
    """Each part of stored ``reasons`` as (part, points, most points, sentence), then the exclusion
    as ("excluded", 0, 0, what) when there was one."""
    lines = [
        (part, reasons[part][0], weight, _sentence(part, reasons[part])) for part, weight in WEIGHTS.items()
    ]
    if reasons.get("excluded"):
        lines.append(("excluded", 0, 0, f"excluded {reasons['excluded']}: the score is 0"))
    return lines
