"""The one opportunity shape: HTML to text, budgets, dates, column cuts, stable ids.

Every adapter in ``sources/`` hands its raw values to ``build_opportunity``, which is the only
place that makes them safe to store: text loses NUL bytes and lone surrogates (PostgreSQL
rejects both), values wider than a column (``models.LIMITS``) are cut instead of rejected,
budgets that do not fit ``Numeric(14, 2)`` are dropped, and only http(s) links are kept.
HTML with tags is read from its first ``MAX_HTML_CHARS`` characters only, so one
description's tree stays small whatever a platform sends; tag-free text is kept whole.
"""

from __future__ import annotations

import calendar
import hashlib
import logging
import math
import re
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from html import unescape
from typing import Any

from lxml import etree

from charlee_collector.models import BUDGET_PERIODS, LIMITS, utcnow
from charlee_collector.opportunity import PERIOD_NAMES, BudgetPeriod, ContractType, Opportunity

log = logging.getLogger(__name__)

MAX_SKILLS = 50
# HTML with tags is read from at most this much: a parser's tree costs up to ~150 bytes per
# byte of input ("<p>x<p>x..."), and no job post is longer.
MAX_HTML_CHARS = 256 * 1024
# Numeric(14, 2): anything at or above this cannot be stored.
_BUDGET_CEILING = Decimal("1000000000000")
_CENT = Decimal("0.01")
_BLOCK_TAGS = ("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table")
_TAG = re.compile(r"<[A-Za-z/!]")
_BREAK = "\ue000"  # a private-use character marks where block elements break lines
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Within a line, runs of these become one space (other Unicode spaces are only stripped at ends).
_OTHER_SPACES = ("\t", "\r", "\f", "\v", "\u00a0")
_SPACE_RUN = re.compile("  +")
_MANY_NEWLINES = re.compile(r"\n{3,}")
_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf]{1,3}")


def clean_text(value: Any) -> str | None:
    """The value as storable text: no NUL bytes, no lone surrogates, ``None`` when empty."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii() and not _encodes(text):
        text = _LONE_SURROGATE.sub("\ufffd", text)
    text = text.strip()
    return text or None


def _encodes(text: str) -> bool:
    # Only a lone surrogate stops UTF-8, and encoding runs ~4x faster than a regex search.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def one_line(value: Any) -> str | None:
    """Clean text with every run of whitespace (newlines included) collapsed to one space."""
    if type(value) is str and value.isascii() and "\x00" not in value:  # nothing else to clean
        return " ".join(value.split()) or None
    text = clean_text(value)
    return " ".join(text.split()) if text else None


def html_to_text(html: Any) -> str | None:
    """Readable plain text from an HTML fragment: blocks become lines, entities are decoded.

    Text without any tag is only unescaped, so the line breaks of plain-text descriptions stay.
    HTML with tags is read from its first ``MAX_HTML_CHARS`` characters.
    """
    return html_texts([html])[0]


def html_texts(values: Sequence[Any]) -> list[str | None]:
    """``html_to_text`` of each value; a payload's descriptions are read together (``_html_lines``)."""
    texts = [clean_text(value) for value in values]
    markup = [i for i, text in enumerate(texts) if text is not None and _TAG.search(text)]
    lines = _html_lines([str(texts[i])[:MAX_HTML_CHARS].replace(_BREAK, "") for i in markup])
    read = dict(zip(markup, lines, strict=True))
    for i, text in enumerate(texts):
        if text is None:
            continue
        if i in read:
            text = read[i]
        elif "&" in text:
            text = unescape(text)
        texts[i] = clean_text(_tidy_lines(text))
    return texts


def _tidy_lines(text: str) -> str:
    """Each line with its runs of spaces collapsed and its ends stripped; at most one blank line."""
    # Whole-text passes first: a regex call per line cost more than the rest of this together.
    for space in _OTHER_SPACES:
        if space in text:
            text = text.replace(space, " ")
    if "  " in text:
        text = _SPACE_RUN.sub(" ", text)
    text = "\n".join([line.strip() for line in text.split("\n")])
    return _MANY_NEWLINES.sub("\n\n", text) if "\n\n\n" in text else text


# libxml2's HTML parser (through lxml) is ~35x faster than BeautifulSoup's html.parser on job
# descriptions, which decides how many platforms one collector batch parses in its time. The
# trees are then turned into text by libxslt in one C call: marking block elements from Python
# (a proxy object and two string writes per element) cost twice the parse itself. Parsers and
# transforms must not be used by two threads at once, and the collector parses on a thread
# pool: one of each per thread.
_per_thread = threading.local()
# Ends each fragment's text in a batch's output (a private-use character, like _BREAK).
_END = "\ue001"
# A batch holds at most this much HTML (a tree costs up to ~150 bytes per byte of it), so a
# batch's trees together take no more memory than one fragment of MAX_HTML_CHARS.
_BATCH_CHARS = 64 * 1024

# Block elements break the line where they start and, but for li and br, where they end
# (HN-style "<p>" opens a paragraph without closing it: break before AND after). Script and
# style are code and styling, not text a person reads; the text after them is kept. Each
# fragment's page is read by its root element only: libxml2 puts what follows a stray
# "</html>" beside it, outside the page (and that is not moved into the batch).
_TEXT_STYLESHEET = f"""<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:output method="text" encoding="utf-8"/>
  <xsl:template match="/"><xsl:for-each select="*/*"><xsl:apply-templates select="."/>{_END}</xsl:for-each></xsl:template>
  <xsl:template match="script|style"/>
  <xsl:template match="li">{_BREAK}- <xsl:apply-templates/></xsl:template>
  <xsl:template match="br">{_BREAK}<xsl:apply-templates/></xsl:template>
  <xsl:template match="{"|".join(tag for tag in _BLOCK_TAGS if tag not in ("li", "br"))}">{_BREAK}<xsl:apply-templates/>{_BREAK}</xsl:template>
</xsl:stylesheet>"""


def _html_parser() -> etree.HTMLParser:
    parser = getattr(_per_thread, "parser", None)
    if parser is None:
        parser = _per_thread.parser = etree.HTMLParser(
            encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True
        )
    return parser


def _text_transform() -> etree.XSLT:
    transform = getattr(_per_thread, "transform", None)
    if transform is None:
        transform = _per_thread.transform = etree.XSLT(
            etree.XML(_TEXT_STYLESHEET), access_control=etree.XSLTAccessControl.DENY_ALL
        )
    return transform


def _html_lines(fragments: list[str]) -> list[str]:
    """Each fragment's text with a line break wherever a block element starts or ends.

    Each fragment is parsed on its own (its tree is the one it would have alone), and the trees
    of a batch are turned into text by one transform: libxslt's setup per call was a quarter of
    a description's cost. A batch that libxslt refuses, or whose output does not split into its
    fragments, is read again one fragment at a time.
    """
    lines: list[str] = []
    start = 0
    while start < len(fragments):
        end, size = start + 1, len(fragments[start])
        while end < len(fragments) and size + len(fragments[end]) <= _BATCH_CHARS:
            size += len(fragments[end])
            end += 1
        batch = fragments[start:end]
        read = _read_batch(batch)
        if read is None:
            read = [(_read_batch([fragment]) or [_words(fragment)])[0] for fragment in batch]
        lines.extend(read)
        start = end
    return lines


def _read_batch(fragments: list[str]) -> list[str] | None:
    """The batch's texts (see ``_html_lines``), or None when it must be read one by one."""
    parser = _html_parser()
    container = etree.Element("batch")
    parsed: list[str | None] = []
    for fragment in fragments:
        try:
            root = etree.fromstring(f"<div>{fragment}</div>".encode("utf-8", "replace"), parser)
        except (etree.ParserError, etree.XMLSyntaxError, ValueError):
            root = None
        if root is None:
            parsed.append(_words(fragment))  # nothing a parser can read: keep the words
        else:
            container.append(root)
            parsed.append(None)
    if not len(container):
        return [text for text in parsed if text is not None]
    try:
        # libxml2 stops a tree at 256 levels, far inside libxslt's 3000-template recursion limit.
        output = str(_text_transform()(container))
    except etree.XSLTApplyError:
        return None
    # Each fragment's text is followed by one end mark. A fragment whose own text holds the mark
    # adds one more: the count tells, and the batch is read again one by one (alone, the last
    # mark is the end).
    texts = output.split(_END) if len(container) > 1 else output.rsplit(_END, 1)
    if len(texts) != len(container) + 1:
        return None
    read = iter(texts)
    # Source newlines are plain whitespace in HTML; only block elements break lines.
    return [
        text if text is not None else next(read).replace("\n", " ").replace(_BREAK, "\n") for text in parsed
    ]


def _words(fragment: str) -> str:
    return unescape(_TAG.sub(" ", fragment))


def first_line(text: str | None) -> str | None:
    """The first non-empty line of a text."""
    return next((line.strip() for line in (text or "").split("\n") if line.strip()), None)


def repair_mojibake(text: str | None) -> str | None:
    """Undo UTF-8 that was decoded as Latin-1 once ("WeÃ¢Â€Â™re" style) where it can be undone.

    Some APIs (Remote OK) serve such double-encoded text; a run is only replaced when its
    Latin-1 bytes are valid UTF-8, so correct text passes through unchanged.
    """
    if not text or not _MOJIBAKE.search(text):
        return text

    def _fix(match: re.Match[str]) -> str:
        try:
            return match.group(0).encode("latin-1").decode("utf-8")
        except UnicodeError:
            return match.group(0)

    return _MOJIBAKE.sub(_fix, text)


def cut(value: str | None, limit: int) -> str | None:
    """The value cut to ``limit`` characters (a column width): long values are kept, not refused."""
    if value is None or len(value) <= limit:
        return value
    return value[:limit].rstrip() or value[:limit]


def external_id_from_url(url: str) -> str:
    """A stable id for items that carry none: the SHA-256 of their URL."""
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def to_decimal(value: Any) -> Decimal | None:
    """A finite, positive amount from a JSON number or numeric string; 0 and junk give ``None``."""
    if value is None or isinstance(value, bool) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        amount = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return amount if amount.is_finite() and amount > 0 else None


def _safe_budget(value: Decimal | None) -> Decimal | None:
    if value is None or not value.is_finite() or not 0 < value < _BUDGET_CEILING:
        return None
    cents = value.quantize(_CENT, rounding=ROUND_HALF_UP)
    return cents if cents > 0 else None


def parse_datetime(value: Any) -> datetime | None:
    """A timezone-aware UTC datetime from ISO-8601, RFC 822, epoch seconds/milliseconds or a
    ``time.struct_time``; naive values are taken as UTC and anything unreadable gives ``None``.
    """
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, datetime):
            result: datetime | None = value
        elif isinstance(value, time.struct_time):
            result = datetime.fromtimestamp(calendar.timegm(value), UTC)
        elif isinstance(value, int | float):
            result = _from_epoch(float(value))
        else:
            result = _from_string(value.strip()) if isinstance(value, str) else None
        if result is None:
            return None
        # Inside the try: "0001-01-01T00:00+14:00" overflows when moved to UTC.
        return result.replace(tzinfo=UTC) if result.tzinfo is None else result.astimezone(UTC)
    except (ValueError, OverflowError, OSError, TypeError):
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if not math.isfinite(seconds) or seconds <= 0:
        return None
    # Some APIs document milliseconds (Himalayas) and serve seconds; 1e11 s is the year 5138.
    return datetime.fromtimestamp(seconds / 1000 if seconds > 1e11 else seconds, UTC)


def _from_string(text: str) -> datetime | None:
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return _from_epoch(float(text))
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (ValueError, TypeError, IndexError):
        pass
    # Upwork's "Posted On" line: "March 07, 2018 03:00 UTC".
    for pattern in ("%B %d, %Y %H:%M UTC", "%B %d, %Y %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None


def clean_skills(values: Any) -> list[str]:
    """Skills as a list of distinct one-line strings (first spelling wins), at most ``MAX_SKILLS``."""
    if isinstance(values, str):
        values = values.split(",")
    if not isinstance(values, Iterable) or isinstance(values, Mapping | bytes):
        return []
    skills: list[str] = []
    seen: set[str] = set()
    for value in values:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        skill = one_line(value)
        folded = skill.casefold() if skill else ""
        if skill and folded not in seen:
            seen.add(folded)
            skills.append(skill[:100])
        if len(skills) >= MAX_SKILLS:
            break
    return skills


def json_safe(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` that PostgreSQL JSONB accepts: clean strings, finite numbers only."""
    if depth > 50:
        return None
    kind = type(value)
    if kind is str:
        return _json_str(value)
    # dict and list first, by exact type: JSON gives only those, and the ABC checks are slow.
    if kind is dict:
        return _json_dict(value, depth)
    if kind is list:
        return _json_list(value, depth)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _json_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return _json_dict(value, depth)
    if isinstance(value, list | tuple):
        return _json_list(value, depth)
    return clean_text(str(value))


def _json_str(value: str) -> str | None:
    if value.isascii() and "\x00" not in value:  # most strings: nothing to clean but the ends
        return value.strip() or value
    return clean_text(value) if value.strip() else value.replace("\x00", "")


# A payload's values are mostly strings and ints: those are cleaned here without a recursive
# call each (a json_safe call per value was most of the cost of cleaning a payload's ``raw``).
def _json_dict(value: Mapping[Any, Any], depth: int) -> dict[str, Any]:
    if depth >= 50:  # the values would be past the depth limit
        return {_json_key(key): None for key in value}
    clean: dict[str, Any] = {}
    for key, item in value.items():
        key = key.strip() if type(key) is str and key.isascii() and "\x00" not in key else _json_key(key)
        kind = type(item)
        if kind is str:
            clean[key] = _json_str(item)
        elif kind is int or item is None or kind is bool:
            clean[key] = item
        else:
            clean[key] = json_safe(item, depth + 1)
    return clean


def _json_list(value: list[Any] | tuple[Any, ...], depth: int) -> list[Any]:
    if depth >= 50:
        return [None] * len(value)
    return [_json_str(item) if type(item) is str else json_safe(item, depth + 1) for item in value]


def _json_key(key: Any) -> str:
    return str(clean_text(str(key)) or "")


def _safe_url(value: Any) -> str | None:
    url = one_line(value)
    # Only web links: a javascript: or data: URL from a feed would be an XSS vector in the app.
    if url is None or not url.lower().startswith(("http://", "https://")):
        return None
    return cut(url, LIMITS["url"])


def _safe_external_id(external_id: Any, url: str | None) -> str | None:
    ident = one_line(external_id)
    if ident is None:
        return external_id_from_url(url) if url else None
    # Cutting two long ids could make them equal; hashing keeps them distinct and stable.
    return ident if len(ident) <= LIMITS["external_id"] else external_id_from_url(ident)


@dataclass(frozen=True)
class Budget:
    """A budget read from text: ``amount`` is the upper end of a range (what the client may pay)."""

    amount: Decimal
    currency: str | None = None
    contract_type: ContractType | None = None
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    period: BudgetPeriod | None = None


def build_opportunity(
    *,
    external_id: Any,
    title: Any,
    description: Any = None,
    description_html: Any = None,
    url: Any = None,
    client_name: Any = None,
    client_country: Any = None,
    required_skills: Any = None,
    category: Any = None,
    client_budget: Decimal | None = None,
    client_currency: Any = None,
    contract_type: str | None = None,
    budget_period: str | None = None,
    posted_at: Any = None,
    raw: Mapping[str, Any] | None = None,
) -> Opportunity | None:
    """An ``Opportunity`` cut and cleaned for storage, or ``None`` when it has no id or title.

    ``description_html`` is converted to text when ``description`` is not given. A missing
    title falls back to the first line of the description; a missing id to the URL's hash.
    A budget's period and contract type complete each other: an hourly contract's budget is
    per hour and a fixed-price one's is the project's price, and the reverse. Without a budget
    there is no period.
    """
    text = clean_text(description) if description is not None else html_to_text(description_html)
    link = _safe_url(url)
    ident = _safe_external_id(external_id, link)
    heading = one_line(title) or one_line(first_line(text))
    if ident is None or heading is None:
        log.debug("skipping an item without id or title (url=%s)", link)
        return None
    currency = one_line(client_currency)
    budget = _safe_budget(client_budget)
    contract = contract_type if contract_type in _CONTRACT_PERIODS else None
    period = budget_period if budget_period in BUDGET_PERIODS else _CONTRACT_PERIODS.get(contract or "")
    if budget is None:
        period = None
    elif contract is None:
        contract = _PERIOD_CONTRACTS.get(period or "")
    return Opportunity(
        external_id=ident,
        title=cut(heading, LIMITS["title"]) or heading,
        description=text,
        url=link,
        client_name=cut(one_line(client_name), LIMITS["client_name"]),
        client_country=cut(one_line(client_country), LIMITS["client_country"]),
        required_skills=clean_skills(required_skills or []),
        category=cut(one_line(category), LIMITS["category"]),
        client_budget=budget,
        client_currency=cut(currency.upper(), LIMITS["client_currency"]) if currency else None,
        contract_type=contract,  # type: ignore[arg-type]
        budget_period=period,  # type: ignore[arg-type]
        posted_at=_believable(parse_datetime(posted_at)),
        raw=json_safe(raw if type(raw) is dict else dict(raw)) if raw is not None else None,
    )


# A posting from later than a day ahead (time zones, a date-only value, a skewed clock) or from
# before 1970 is a platform's mistake: kept as one it would sort first (or last) for ever. The
# item is kept undated (listed by its collection date); ``raw`` keeps what the platform said.
_POSTED_AHEAD = timedelta(days=1)
_POSTED_SINCE = datetime(1970, 1, 1, tzinfo=UTC)


def _believable(posted_at: datetime | None) -> datetime | None:
    if posted_at is None or not _POSTED_SINCE <= posted_at <= utcnow() + _POSTED_AHEAD:
        return None
    return posted_at


def dedupe(items: Iterable[Opportunity]) -> list[Opportunity]:
    """Items with the first occurrence of each ``external_id`` kept: one bulk upsert cannot touch
    the same row twice (PostgreSQL's ON CONFLICT refuses it), and pages of an API can overlap.
    """
    seen: set[str] = set()
    unique: list[Opportunity] = []
    for item in items:
        if item.external_id not in seen:
            seen.add(item.external_id)
            unique.append(item)
    return unique


# --- budgets -------------------------------------------------------------------------------

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
_CONTRACT_PERIODS: dict[str, BudgetPeriod] = {"hourly": "hour", "fixed_price": "fixed"}
_PERIOD_CONTRACTS: dict[str, ContractType] = {"hour": "hourly", "fixed": "fixed_price"}
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
    amount = _safe_budget(max(minimum, maximum) if maximum is not None else minimum)
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
        contract_type=_PERIOD_CONTRACTS.get(period or ""),
        minimum=_safe_budget(minimum),
        maximum=_safe_budget(maximum),
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
