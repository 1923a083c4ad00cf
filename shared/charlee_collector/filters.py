"""Per-platform filters, applied the same way to every source after normalisation.

A platform's ``config`` may hold these keys whatever its source:

``keywords``          keep an item when ANY keyword appears (whole words, case-insensitive) in
                      its title, description or skills; an empty list keeps everything
``exclude_keywords``  drop an item when any of these appears (same matching)
``min_budget``        drop an item whose budget is below this amount; items WITHOUT a budget
                      are kept (most listings state none, and unknown is not "too low"). The
                      amount is compared in the item's own currency: there is no conversion
``max_age_days``      drop an item posted more than this many days ago; undated items are kept

Filters run on our side even when an API could narrow results itself: each source's own query
fields (remotive ``search``, jobicy ``tag``, ...) are separate, explicit options, so a filter
means the same thing on every platform.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from charlee_collector.opportunity import Opportunity

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class BaseSourceConfig(BaseModel):
    """The config fields every source accepts; each source's ``Config`` extends this.

    Unknown keys are refused (``extra="forbid"``) so a typo such as ``keyword`` fails loudly
    at validation instead of silently collecting everything.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    exclude_keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    min_budget: Decimal | None = Field(default=None, ge=0, le=Decimal("999999999999"))
    max_age_days: int | None = Field(default=None, ge=1, le=3650)


@lru_cache(maxsize=512)
def _pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    # Whole-word matching, so "go" does not match "good" and "java" does not match "javascript";
    # lookarounds instead of \b so keywords such as "c++" or ".net" still match.
    alternatives = "|".join(re.escape(word.casefold()) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _haystack(item: Opportunity) -> str:
    parts = [item.title, item.description or "", " ".join(item.required_skills)]
    return "\n".join(parts).casefold()


def matches(item: Opportunity, config: BaseSourceConfig, *, now: datetime) -> bool:
    """Whether ``item`` passes the platform's filters (see the module docstring)."""
    if config.keywords or config.exclude_keywords:
        text = _haystack(item)
        if config.keywords and not _pattern(tuple(config.keywords)).search(text):
            return False
        if config.exclude_keywords and _pattern(tuple(config.exclude_keywords)).search(text):
            return False
    budget, floor = item.client_budget, config.min_budget
    if floor is not None and budget is not None and budget < floor:
        return False
    days = config.max_age_days
    return not (
        days is not None and item.posted_at is not None and item.posted_at < now - timedelta(days=days)
    )


def apply_filters(
    items: Iterable[Opportunity], config: BaseSourceConfig, *, now: datetime
) -> list[Opportunity]:
    """The items that pass the platform's filters, in their original order."""
    return [item for item in items if matches(item, config, now=now)]
