"""Budgets: amounts and currencies from fields or free text, with the period they are paid per."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from charlee_collector.core.opportunity import PERIOD_NAMES, BudgetPeriod, ContractType
from charlee_collector.normalize.text import one_line

# Numeric(14, 2): anything at or above this cannot be stored.
_BUDGET_CEILING = Decimal("1000000000000")


_CENT = Decimal("0.01")


# The contract type a budget period implies.
PERIOD_CONTRACTS: dict[str, ContractType] = {"hour": "hourly", "fixed": "fixed_price"}


def to_decimal(value: Any) -> Decimal | None:
    """A finite, positive amount from a JSON number or numeric string; 0 and junk give ``None``."""
    if value is None or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def bounded_budget(value: Decimal | None) -> Decimal | None:
    if value is None or not value.is_finite() or not 0 < value < _BUDGET_CEILING:
        return None
    cents = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    return cents if cents > 0 else None


@dataclass(frozen=True)
class Budget:
    """A budget read from text: ``amount`` is the upper end of a range (what the client may pay)."""

    amount: Decimal
    currency: str | None = None
    contract_type: ContractType | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    period: BudgetPeriod | None = None


_SYMBOLS = {
    "US$": "USD", "AU$": "AUD", "A$": "AUD", "CA$": "CAD", "C$": "CAD", "NZ$": "NZD", "R$": "BRL",
    "$": "USD", "€": "EUR", "£": "GBP", "₹": "INR", "¥": "JPY",
}  # fmt: skip


# One line of codes reads better than forty.
_CODES = frozenset(
    "USD EUR GBP CAD AUD NZD INR JPY CHF SEK NOK DKK PLN BRL MXN ZAR SGD HKD CNY AED ILS CZK HUF RON "  # noqa: SIM905
    "TRY PHP PKR NGN KES UAH ARS COP CLP IDR MYR THB VND KRW TWD BGN".split()
)


_SYMBOL_RE = "|".join(re.escape(s) for s in sorted(_SYMBOLS, key=len, reverse=True))


_CODE_RE = "|".join(sorted(_CODES))


_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?\s*([kKmM](?![a-zA-Z]))?")


_RANGE_GAP = re.compile(rf"\s*(?:-|\u2013|\u2014|to)\s*(?:{_SYMBOL_RE}|{_CODE_RE})?\s*", re.IGNORECASE)


_CURRENCY = re.compile(rf"({_SYMBOL_RE})|\b({_CODE_RE})\b")


_MONEY_START = re.compile(
    rf"(?:{_SYMBOL_RE})\s?\d|\b(?:{_CODE_RE})\s?\d|\d[\d,.]*\s?[kK]?\s?(?:{_CODE_RE})\b"
)


# How texts say what an amount is per. The earliest marker in a budget's text wins.
_PERIOD_MARKERS = {
    "hour": r"/\s*(?:hr|hrs|hour|h)\b|per\s+hour|hourly|an\s+hour|p/h\b",
    "day": r"/\s*(?:day|d)\b|per\s+day|daily|a\s+day|day\s+rate",
    "week": r"/\s*(?:wk|week|w)\b|per\s+week|weekly|a\s+week",
    "month": r"/\s*(?:mo|mth|month|m)\b|per\s+month|monthly|a\s+month|p/m\b|\bpcm\b",
    "year": r"/\s*(?:yr|year|y|annum)\b|per\s+(?:year|annum)|yearly|annual(?:ly)?|a\s+year|\bp\.?a\.?(?!\w)",
    "fixed": r"fixed",
}


_PERIOD = re.compile(
    "|".join(f"(?P<{name}>{marker})" for name, marker in _PERIOD_MARKERS.items()), re.IGNORECASE
)


# Below this, a figure a source documents as a yearly salary cannot be one (Remote OK serves
# "30" and "80-140" for hourly freelance work in those fields): its period is left unknown.
YEARLY_FLOOR = Decimal(1000)


_BUDGET_TEXT_LIMIT = 200


_MULTIPLIERS = {"k": Decimal(1000), "m": Decimal(1_000_000)}


def _amount(match: re.Match[str]) -> tuple[Decimal, Decimal]:
    """The matched number and its multiplier (``1`` when there is no k/m suffix)."""
    whole, fraction, suffix = match.groups()
    number = Decimal(whole.replace(",", "") + (f".{fraction}" if fraction else ""))
    return number, _MULTIPLIERS.get((suffix or "").lower(), Decimal(1))


def budget_period(text: Any) -> BudgetPeriod | None:
    """The period a text states ("/hr", "per month", "yearly", "p.a.", "fixed price"), or a field
    holds on its own ("hour", "monthly"); ``None`` when it states none."""
    line = one_line(text)
    if line and line.casefold() in PERIOD_NAMES:
        return PERIOD_NAMES[line.casefold()]
    match = _PERIOD.search(line[:_BUDGET_TEXT_LIMIT]) if line else None
    return match.lastgroup if match else None  # type: ignore[return-value]


def documented_yearly(amount: Decimal | None) -> BudgetPeriod | None:
    """ "year" for a source's documented yearly salary field, unless the figure cannot be one."""
    return "year" if amount is not None and amount >= YEARLY_FLOOR else None


def parse_budget(text: Any) -> Budget | None:
    """A budget from text meant as one ("$500", "$15.00-$30.00", "1,000 USD", "$3k - $10k",
    "$18 - $22/hr"); ``None`` when it holds no positive amount.

    A range gives its upper end as ``amount``. ``period`` is what the text says the amount is
    per (``budget_period``); an hourly one makes the contract hourly and "fixed" a fixed price.
    Whether a lone amount is a fixed price is the caller's call (a salary is not one).
    """
    line = one_line(text)
    if line is None:
        return None
    line = line[:_BUDGET_TEXT_LIMIT]
    first = _AMOUNT.search(line)
    if first is None:
        return None
    low, low_mult = _amount(first)
    high = high_mult = None
    second = _AMOUNT.search(line, first.end())
    if second and _RANGE_GAP.fullmatch(line[first.end() : second.start()]):
        high, high_mult = _amount(second)
        # "80-100k" means 80k-100k: the suffix on the upper end applies to the lower one too.
        if low_mult == 1 and high_mult != 1 and low * high_mult <= high * high_mult:
            low_mult = high_mult
    minimum = low * low_mult
    maximum = high * high_mult if high is not None and high_mult is not None else None
    amount = bounded_budget(max(minimum, maximum) if maximum is not None else minimum)
    if amount is None:
        return None
    currency_match = _CURRENCY.search(line)
    currency = None
    if currency_match:
        currency = _SYMBOLS.get(currency_match.group(1) or "") or (currency_match.group(2) or "").upper()
    period = budget_period(line)
    return Budget(
        amount=amount,
        currency=currency or None,
        contract_type=PERIOD_CONTRACTS.get(period or ""),
        minimum=bounded_budget(minimum),
        maximum=bounded_budget(maximum),
        period=period,
    )


def find_budget(text: Any) -> Budget | None:
    """The first money amount marked by a currency ("$120k", "EUR 500", "40 USD/hr") inside free
    text such as a post's first line; bare numbers are ignored there (they are dates, counts).
    """
    line = one_line(text)
    if line is None:
        return None
    # Bounded so a pathological line (a megabyte of digits) cannot make the search quadratic.
    match = _MONEY_START.search(line[: _BUDGET_TEXT_LIMIT * 4])
    if match is None:
        return None
    return parse_budget(line[match.start() : match.start() + 48])


# Places of a description looked at when looking for one figure: enough for any job post.
_STATED_BUDGETS_LIMIT = 50


# Around each place the figure's digits appear, what is read: a range's start and currency
# come before its upper end ("PLN 350,700 - 474,400").
_STATED_BEFORE, _STATED_AFTER = 40, 48


def stated_budget(text: Any, amount: Decimal | None) -> Budget | None:
    """The budget a description states for ``amount`` (a figure an API gave in its own field):
    a currency-marked amount or range in ``text`` whose ends or amount equal it.

    It tells what the bare field does not: "Salary Range: PLN 350,700 - 474,400" makes an API's
    ``474400`` (served as USD) Polish zloty. ``None`` when the text never states that figure.
    Only the text around where the figure's leading digits appear ("474" of "474,400" or
    "474k") is read for money: a whole description through the money pattern cost as much as
    the rest of its parsing.
    """
    if amount is None or not isinstance(text, str):
        return None
    digits = str(int(amount) // 1000 if amount >= 1000 else int(amount))
    at = text.find(digits)
    for _place in range(_STATED_BUDGETS_LIMIT):
        if at < 0:
            break
        window = text[max(at - _STATED_BEFORE, 0) : at + _STATED_AFTER]
        for match in _MONEY_START.finditer(window):
            budget = parse_budget(window[match.start() : match.start() + 48])
            if budget is not None and amount in (budget.amount, budget.minimum, budget.maximum):
                return budget
        at = text.find(digits, at + len(digits))
    return None


# What boards write around a period's name: Lever's "per-year-salary", Ashby's "1 YEAR".
_PERIOD_NAME_NOISE = re.compile(r"^(?:per|1)\s+|\s+(?:salary|wage|pay)$")
_ONE_OFF = frozenset({"one time", "time", "once", "one off"})


def named_period(value: Any) -> BudgetPeriod | None:
    """The period a board's period field names ("year", "MONTH", "per-hour-wage", "1 YEAR",
    "one-time" as a fixed amount); ``None`` for anything else ("2 WEEK", "NONE", missing)."""
    if not isinstance(value, str):
        return None
    name = " ".join(value.replace("-", " ").replace("_", " ").split()).casefold()
    name = _PERIOD_NAME_NOISE.sub("", _PERIOD_NAME_NOISE.sub("", name))
    return "fixed" if name in _ONE_OFF else PERIOD_NAMES.get(name)


def salary_range(minimum: Any, maximum: Any, currency: Any, period: BudgetPeriod | None) -> Budget | None:
    """A board's structured salary (``min``/``max`` numbers or numeric strings, a currency code,
    the period its own field names) as a ``Budget`` whose amount is the upper end; ``None`` when
    neither end is a positive amount. The currency is kept only when it is a code-like string."""
    low, high = bounded_budget(to_decimal(minimum)), bounded_budget(to_decimal(maximum))
    amount = max(low, high) if low is not None and high is not None else (high or low)
    if amount is None:
        return None
    code = one_line(currency) if isinstance(currency, str) else None
    return Budget(
        amount=amount,
        currency=code.upper() if code and code.isalpha() else None,
        contract_type=PERIOD_CONTRACTS.get(period or ""),
        minimum=low,
        maximum=high,
        period=period,
    )


def budget_fields(budget: Budget | None) -> dict[str, Any]:
    """``build_opportunity``'s budget arguments from one ``Budget`` (all ``None`` without one)."""
    if budget is None:
        return {"client_budget": None, "client_currency": None, "contract_type": None, "budget_period": None}
    return {
        "client_budget": budget.amount,
        "client_currency": budget.currency,
        "contract_type": budget.contract_type,
        "budget_period": budget.period,
    }
