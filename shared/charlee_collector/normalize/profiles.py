"""A user's scoring profile: what makes a job right for them (``scoring.score_opportunity`` reads it).

Validated like a platform's config (unknown keys refused, one-line errors naming the field):
``skills`` (skill -> weight 1-10), ``languages``, ``min_budget`` (the filters' AMOUNT/PERIOD form),
``contract_types``, ``exclude_keywords`` and ``exclude_companies``, ``timezone`` (an IANA name).
``languages`` and ``timezone`` are kept for the reader's application; no item states a language
or a time zone the score could compare with (docs/scoring.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from charlee_collector.core.errors import InvalidProfile, validation_problems
from charlee_collector.core.opportunity import ContractType
from charlee_collector.normalize.filters import Keyword, MinBudget

MAX_SKILLS = 100
MAX_WEIGHT = 10


def known_timezone(name: str | None) -> str | None:
    """``name`` when it is an IANA time zone (None passes); a ValueError saying so otherwise."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Europe/Lisbon)") from None
    return name


def _casefolded_keys(skills: dict[str, int]) -> dict[str, int]:
    # Matching is casefolded (the filters' rule), so "Python" and "python" are one skill.
    folded: dict[str, int] = {}
    for name, weight in skills.items():
        folded[name.casefold()] = max(weight, folded.get(name.casefold(), 0))
    return folded


Weight = Annotated[int, Field(ge=1, le=MAX_WEIGHT)]


class Profile(BaseModel):
    """One user's preferences (module docstring); every field may be left empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skills: Annotated[dict[Keyword, Weight], AfterValidator(_casefolded_keys)] = Field(
        default_factory=dict, max_length=MAX_SKILLS
    )
    languages: list[Keyword] = Field(default_factory=list, max_length=20)
    min_budget: MinBudget | None = None
    contract_types: list[ContractType] = Field(default_factory=list, max_length=2)
    exclude_keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    exclude_companies: list[Keyword] = Field(default_factory=list, max_length=100)
    timezone: Annotated[str | None, AfterValidator(known_timezone)] = None


def parse_profile(value: Mapping[str, Any] | None) -> Profile:
    """``value`` (a stored or typed profile) validated; raises ``InvalidProfile`` naming the field."""
    if value is None:
        return Profile()
    if not isinstance(value, Mapping):
        raise InvalidProfile(f"a profile is a JSON object, got {type(value).__name__}")
    try:
        return Profile.model_validate(dict(value))
    except ValidationError as exc:
        message = f"invalid profile: {validation_problems(exc, whole='(profile)')}"
        if any(detail["type"] == "extra_forbidden" for detail in exc.errors()):
            message += f"; its keys are {', '.join(Profile.model_fields)}"
        raise InvalidProfile(message) from None


def profile_document(profile: Profile) -> dict[str, Any]:
    """The profile as it is stored and shown (JSON types; ``min_budget`` in the AMOUNT/PERIOD form)."""
    return profile.model_dump(mode="json")
