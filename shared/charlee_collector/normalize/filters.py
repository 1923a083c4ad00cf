"""Per-platform filters, applied the same way to every source after normalisation.

A platform's ``config`` may hold, whatever its source (``BaseSourceConfig``): ``keywords`` (keep an
item when ANY appears, as a whole word, in its title, description or skills), ``exclude_keywords``,
``min_budget`` (like with like: per the item's own period, in its own currency; items without a
budget, or whose period has no minimum, are kept; ``parse_min_budget`` reads it for
``opportunities --min-budget`` too) and ``max_age_days`` (undated items are kept). ``apply_filters``
runs them on our side even where an API could narrow itself (docs/sources.md, "Filters").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)

from charlee_collector.core.opportunity import PERIOD_NAMES, BudgetPeriod, Opportunity

Keyword = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


MAX_MIN_BUDGET = Decimal("999999999999")
_MINIMUM = re.compile(r"\s*([^/\s]+)\s*(?:/\s*(\S+)\s*)?")


@dataclass(frozen=True)
class BudgetMinimums:
    """Minimum budgets by period; the ``None`` key is the bare minimum, for an unknown period."""

    by_period: tuple[tuple[BudgetPeriod | None, Decimal], ...]

    def allows(self, amount: Decimal | None, period: str | None) -> bool:
        """Whether a budget passes: none stated, no minimum for its period, or at least that."""
        if amount is None:
            return True
        floor = self.floor(period)
        return floor is None or amount >= floor

    def floor(self, period: str | None) -> Decimal | None:
        """The minimum for budgets of ``period`` (``None``: the bare one), or ``None`` when there is none."""
        return next((floor for name, floor in self.by_period if name == period), None)

    def as_config(self) -> str | list[str]:
        """The value as a config writes it (``"60/hour"``, or a list of those)."""
        texts = [f"{amount:f}" + (f"/{period}" if period else "") for period, amount in self.by_period]
        return texts[0] if len(texts) == 1 else texts


def _minimum(value: Any) -> tuple[BudgetPeriod | None, Decimal]:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"a minimum budget is an amount or 'AMOUNT/PERIOD', got {value!r}")
    match = _MINIMUM.fullmatch(str(value))
    amount_text, period_text = match.groups() if match else (str(value), None)
    try:
        amount = Decimal(amount_text.replace(",", ""))
    except InvalidOperation:
        raise ValueError(
            f"a minimum budget is an amount or 'AMOUNT/PERIOD' (60/hour), got {value!r}"
        ) from None
    if not amount.is_finite() or not 0 <= amount <= MAX_MIN_BUDGET:
        raise ValueError(f"a minimum budget is between 0 and {MAX_MIN_BUDGET}, got {value!r}")
    if period_text is None:
        return None, amount
    period = PERIOD_NAMES.get(period_text.casefold())
    if period is None:
        raise ValueError(
            f"unknown budget period {period_text!r} in {value!r}: use hour, day, week, month, year or fixed"
        )
    return period, amount


def parse_min_budget(value: Any) -> BudgetMinimums:
    """``min_budget`` from a config or the command line: an amount, "AMOUNT/PERIOD", or a list."""
    if isinstance(value, BudgetMinimums):
        return value
    values = value if isinstance(value, list | tuple) else [value]
    if not values:
        raise ValueError("min_budget needs at least one amount")
    minimums: dict[BudgetPeriod | None, Decimal] = {}
    for item in values:
        period, amount = _minimum(item)
        if period in minimums:
            raise ValueError(f"two minimum budgets for {'the unknown period' if period is None else period}")
        minimums[period] = amount
    return BudgetMinimums(tuple(minimums.items()))


_MIN_BUDGET_ITEM = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "examples": ["60/hour"]}]}
MinBudget = Annotated[
    BudgetMinimums,
    PlainValidator(parse_min_budget),
    PlainSerializer(BudgetMinimums.as_config),
    WithJsonSchema(
        {
            "anyOf": [_MIN_BUDGET_ITEM, {"type": "array", "items": _MIN_BUDGET_ITEM}],
            "description": "AMOUNT, 'AMOUNT/PERIOD' or a list of them (one per period); "
            "a bare AMOUNT applies to items whose period is unknown",
        }
    ),
]


class BaseSourceConfig(BaseModel):
    """The config fields every source accepts; each source's ``Config`` extends this.

    Unknown keys are refused (``extra="forbid"``) so a typo such as ``keyword`` fails loudly
    at validation instead of silently collecting everything.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    exclude_keywords: list[Keyword] = Field(default_factory=list, max_length=100)
    min_budget: MinBudget | None = None
    max_age_days: int | None = Field(default=None, ge=1, le=3650)


def _whole_words(text: str, folded: Iterable[str]) -> Iterator[str]:
    """Those of the casefolded words ``folded`` found in ``text`` as whole words, in their order."""
    find = text.find
    size = len(text)
    for word in folded:
        # One ``find`` per word, and from where it stopped: a first ``in`` scanned the text up
        # to a present word twice, and most of a description lies before some skill it names.
        start = find(word)
        while start >= 0:
            end = start + len(word)
            # A neighbour that is a letter, digit or underscore (what a regex's \w matches) makes it
            # part of a longer word.
            before = text[start - 1] if start else " "
            after = text[end] if end < size else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                yield word
                break
            start = find(word, start + 1)


class WholeWords:
    """Words made ready to be looked for in many texts by ``whole_words_in``'s rule: casefolded and
    deduplicated once, as a profile's skills are for each item of a collection."""

    __slots__ = ("words",)

    def __init__(self, words: Iterable[str]) -> None:
        self.words: tuple[str, ...] = tuple(dict.fromkeys(word.casefold() for word in words))

    def found_in(self, text: str) -> list[str]:
        """Those of the words in ``text`` (casefolded, ``searchable_text``) as whole words, in their order."""
        return list(_whole_words(text, self.words))

    def first_in(self, text: str) -> str | None:
        """The first of the words (in their order) in ``text`` as a whole word, or ``None``."""
        return next(_whole_words(text, self.words), None)


def whole_words_in(text: str, words: Iterable[str]) -> list[str]:
    """Those of ``words`` that appear in ``text`` (casefolded, ``searchable_text``) as whole words,
    casefolded, in the order given.

    Whole words, so "go" does not match "good" and "java" does not match "javascript"; a
    neighbour that is not a letter, digit or underscore ends a word, so keywords such as "c++"
    or ".net" still match. ``str.find`` then a look at the two neighbours: a regex alternation of
    the words cost ~20 us per 1,000 characters, this ~1 us per word. ``WholeWords`` keeps the
    words ready for many texts.
    """
    return WholeWords(words).found_in(text)


def first_whole_word(text: str, words: Iterable[str]) -> str | None:
    """The first of ``words`` (in the order given) found in ``text`` as a whole word (``whole_words_in``)."""
    # Casefolded one by one: a filter's list of keywords is asked about one text, and the first
    # found ends the search.
    return next(_whole_words(text, (word.casefold() for word in words)), None)


def searchable_text(item: Opportunity, *, description_chars: int | None = None) -> str:
    """What keywords are looked for in: title, description (its first ``description_chars``, when
    given) and skills, casefolded."""
    description = item.description or ""
    if description_chars is not None:
        description = description[:description_chars]
    parts = [item.title, description, " ".join(item.required_skills)]
    return "\n".join(parts).casefold()


def matches(item: Opportunity, config: BaseSourceConfig, *, now: datetime) -> bool:
    """Whether ``item`` passes the platform's filters (see the module docstring)."""
    if config.keywords or config.exclude_keywords:
        text = searchable_text(item)
        if config.keywords and first_whole_word(text, config.keywords) is None:
            return False
        if config.exclude_keywords and first_whole_word(text, config.exclude_keywords) is not None:
            return False
    minimums = config.min_budget
    if minimums is not None and not minimums.allows(item.client_budget, item.budget_period):
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
