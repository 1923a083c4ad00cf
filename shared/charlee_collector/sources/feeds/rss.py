"""Any RSS 0.9x/1.0/2.0, Atom or JSON Feed (``json_feed``), parsed from bytes (never a URL).

``xml_safety.safe_feed_bytes`` checks the bytes first. RSS 2.0 and Atom 1.0 are read by
``fast_feed`` (lxml); what it cannot read (RDF, pre-1.0 Atom, CDF, malformed XML) by feedparser,
into the same entries. At most ``MAX_FEED_ITEMS`` entries are kept (the newest), all within the
collection's deadline. Upwork: the description's closing ``<b>Label</b>: value`` lines become
fields (``Budget`` fixed, ``Hourly Range`` hourly) and " - Upwork" leaves the title; We Work
Remotely: "Company: Role" titles and item elements give client, country and skills.
"""

from __future__ import annotations

import io
import re
from typing import Any

import feedparser
from lxml import etree

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.fetching.client import Deadline
from charlee_collector.normalize.budgets import parse_budget
from charlee_collector.normalize.dates import parse_datetime
from charlee_collector.normalize.html import html_fragment, html_texts, html_to_text
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.text import one_line
from charlee_collector.sources.base import BaseSourceConfig, Source, WebUrl
from charlee_collector.sources.feeds.fast_feed import WWR_ELEMENTS, UnreadableFeed, keep_newest, read_entries
from charlee_collector.sources.feeds.json_feed import is_json, json_feed_fields
from charlee_collector.sources.feeds.xml_safety import safe_feed_bytes, start_tags

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.8, */*;q=0.5"
)
UPWORK_LABELS = ("budget", "hourly range", "posted on", "category", "skills", "country")
# Entries kept per feed, the newest: real job feeds carry 20-100, and every one kept is
# normalised and upserted within the collection (a 10 MB feed can hold 50,000).
MAX_FEED_ITEMS = 5_000
# feedparser's CPU per start tag, rounded up from its slowest measured (24-65 s for 10 MB of
# 250,000): the fallback starts only when the deadline leaves it that much time.
FEEDPARSER_SECONDS_PER_ELEMENT = 0.0003
# Upwork's descriptions are short and carry a handful of labels: longer or bolder HTML is not
# read for labels (most feeds' bold text is not Upwork's, and a 10 MB feed of it is work for nothing).
UPWORK_HTML_CHARS = 32 * 1024
UPWORK_MAX_BOLD = 40
# A <b> whose whole text is a label (spaces, &nbsp; and inner tags aside), as the tree walk
# tests it: without one the walk cannot find a label, and most feeds' bold text is not Upwork's.
_SPACE = r"(?:\s|&nbsp;|&#160;|<[^>]*>)*"
_UPWORK_LABEL = re.compile(
    rf"<b\b[^>]*>{_SPACE}(?:budget|hourly{_SPACE}range|posted{_SPACE}on|category|skills|country){_SPACE}</b",
    re.IGNORECASE,
)


class RssConfig(BaseSourceConfig):
    """``url`` of the feed (required)."""

    url: WebUrl


def _label_value(label: Any) -> str | None:
    """The text after a ``<b>`` label up to the next ``<b>``, ``<br>`` or ``<a>`` beside it."""
    parts = [label.tail or ""]
    for sibling in label.itersiblings():
        if sibling.tag in ("b", "br", "a"):
            break
        parts.append("".join(sibling.itertext()) + (sibling.tail or ""))
    return one_line("".join(parts).strip().removeprefix(":"))


def upwork_fields(html: str) -> tuple[str | None, dict[str, str]]:
    """The description above Upwork's ``<b>Label</b>: value`` block, and that block's fields."""
    if "<b>" not in html or len(html) > UPWORK_HTML_CHARS or html.count("<b>") > UPWORK_MAX_BOLD:
        return html, {}
    if not _UPWORK_LABEL.search(html) or (root := html_fragment(html)) is None:
        return html, {}  # no label can be found: most feeds' bold text is not Upwork's
    fields: dict[str, str] = {}
    first_label = None
    for bold in root.iter("b"):
        label = " ".join("".join(bold.itertext()).split()).casefold()
        if not label:
            continue
        value = _label_value(bold)
        if value is not None:
            fields.setdefault(label, value)
        if first_label is None and label in UPWORK_LABELS:
            first_label = bold
    if first_label is None:
        return html, {}
    # What comes before the first label beside it: its parent's leading text and earlier siblings.
    parent = first_label.getparent()
    above = [parent.text or ""]
    for sibling in parent:
        if sibling is first_label:
            break
        above.append(etree.tostring(sibling, encoding=str, method="html", with_tail=True))
    return "".join(above), fields


def _entry_html(entry: Any) -> str | None:
    content = entry.get("content")
    if content and isinstance(content, list) and content[0].get("value"):
        return str(content[0]["value"])
    summary = entry.get("summary")
    return str(summary) if summary else None


def _entry_title(entry: Any) -> str | None:
    title = entry.get("title")
    if not title:
        return None
    # Titles declared plain text still arrive escaped twice ("IOS &amp; Android" in Upwork's
    # CDATA), so entities are decoded either way; html_to_text leaves tag-free text otherwise be.
    return html_to_text(str(title))


def _within(deadline: Deadline | None, work: str = "parsing the feed", seconds: float = 0.0) -> None:
    """Raise once ``deadline`` has passed, or when it leaves less than ``seconds`` for ``work``."""
    if deadline is not None and (deadline.reached() or deadline.remaining() < seconds):
        raise deadline.exceeded_by(work)


def feed_entries(body: bytes, url: str, deadline: Deadline | None = None, *, fast: bool = True) -> list[Any]:
    """The newest ``MAX_FEED_ITEMS`` entries of an RSS or Atom feed, feedparser-shaped, links resolved.

    ``fast=False`` reads with feedparser even what lxml could (the equivalence tests compare both).
    """
    document = safe_feed_bytes(body)
    _within(deadline)
    if fast:
        try:
            return read_entries(document, url, limit=MAX_FEED_ITEMS, check=lambda: _within(deadline))
        except UnreadableFeed:
            pass
    return feedparser_entries(document, url, deadline)


def feedparser_entries(document: bytes, url: str, deadline: Deadline | None = None) -> list[Any]:
    """feedparser's entries of a checked document (``safe_feed_bytes``), within the deadline."""
    # feedparser cannot be stopped once it runs: it starts only when it can end in time.
    elements = start_tags(document)
    needed = elements * FEEDPARSER_SECONDS_PER_ELEMENT
    _within(
        deadline, f"parsing the feed with feedparser (up to {needed:.1f} s for {elements} elements)", needed
    )
    # Sanitising and resolving links inside content is wasted work: only plain text is stored.
    parsed = feedparser.parse(
        io.BytesIO(document),
        sanitize_html=False,
        resolve_relative_uris=False,
        # The base for relative links; the type says what safe_feed_bytes made of the body
        # (without one feedparser flags every feed "no Content-type specified").
        response_headers={"content-location": url, "content-type": "application/xml; charset=utf-8"},
    )
    _within(deadline)
    if not parsed.entries:
        if not parsed.get("version"):
            raise PermanentSourceError(
                "rss payload could not be parsed: not an RSS, Atom or JSON feed (an HTML page?); "
                "check the platform's url"
            )
        if parsed.get("bozo"):
            raise PermanentSourceError(
                f"rss payload could not be parsed: malformed feed ({parsed.get('bozo_exception')})"
            )
    dates = [
        parse_datetime(dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed"))
        for entry in parsed.entries
    ]
    return keep_newest(parsed.entries, dates, MAX_FEED_ITEMS)


class RssSource(Source):
    key = "rss"
    min_interval_minutes = 15
    interval_terms = "A feed's publisher sets its own terms; 15 minutes is the dispatcher's period."
    example = {
        "url": "https://weworkremotely.com/categories/remote-programming-jobs.rss",
        "keywords": ["python"],
    }
    Config = RssConfig
    accept = FEED_ACCEPT

    def parse(self, body: bytes, config: RssConfig) -> list[Opportunity]:
        return self.parse_within(body, config, None)

    def parse_within(self, body: bytes, config: RssConfig, deadline: Deadline | None) -> list[Opportunity]:
        if not body.strip():
            raise PermanentSourceError("rss payload could not be parsed: the response body is empty")
        if is_json(body):
            fields = json_feed_fields(body, str(config.url))
            dates = [parse_datetime(item["posted_at"]) for item in fields]
            return self._opportunities(keep_newest(fields, dates, MAX_FEED_ITEMS), deadline)
        return self.feed_opportunities(feed_entries(body, str(config.url), deadline), deadline)

    def feed_opportunities(self, entries: list[Any], deadline: Deadline | None = None) -> list[Opportunity]:
        """The opportunities of ``feed_entries``' entries (whichever reader read them)."""
        return self._opportunities([self._fields(entry) for entry in entries], deadline)

    @staticmethod
    def _opportunities(entries: list[dict[str, Any]], deadline: Deadline | None) -> list[Opportunity]:
        _within(deadline)
        descriptions = html_texts([fields.pop("description_html") for fields in entries])
        items = (
            build_opportunity(description=fields.pop("description", None) or description, **fields)
            for fields, description in zip(entries, descriptions, strict=True)
        )
        return [item for item in items if item is not None]

    def _fields(self, entry: Any) -> dict[str, Any]:
        """What ``build_opportunity`` makes the entry's opportunity of (``description_html`` unread)."""
        html = _entry_html(entry)
        title = _entry_title(entry)
        tags = [str(tag.get("term")) for tag in entry.get("tags") or [] if tag.get("term")]
        # dict.get, not entry.get: feedparser maps a missing "updated" to "published" with a
        # DeprecationWarning on every access.
        raw: dict[str, Any] = {
            key: dict.get(entry, key) for key in ("id", "link", "title", "published", "updated", "author")
        }
        raw["tags"] = tags
        if enclosures := [str(e.get("href")) for e in entry.get("enclosures") or [] if e.get("href")]:
            raw["enclosures"] = enclosures
        fields: dict[str, Any] = {"category": tags[0] if tags else None, "client_name": entry.get("author")}
        description_html, upwork = upwork_fields(html) if html else (None, {})
        if any(label in upwork for label in ("posted on", "budget", "hourly range")):
            raw["upwork"] = upwork
            fields.update(self._upwork(upwork))
            if title and title.endswith(" - Upwork"):
                title = title.removesuffix(" - Upwork")
        elif "region" in entry:
            wwr = {key: entry.get(key) for key in WWR_ELEMENTS if entry.get(key)}
            raw.update(wwr)
            company, separator, role = (title or "").partition(": ")
            if separator and company and role:
                fields["client_name"], title = company, role
            fields["client_country"] = wwr.get("country")
            fields["required_skills"] = wwr.get("skills")
        posted_on = fields.pop("posted_on", None)
        return {
            "external_id": entry.get("id") or entry.get("link"),
            "title": title,
            "description_html": description_html,
            "url": entry.get("link"),
            "posted_at": dict.get(entry, "published_parsed")
            or dict.get(entry, "updated_parsed")
            or posted_on,
            "raw": raw,
            **fields,
        }

    @staticmethod
    def _upwork(upwork: dict[str, str]) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "category": upwork.get("category"),
            "client_country": upwork.get("country"),
            "required_skills": upwork.get("skills"),
            "posted_on": upwork.get("posted on"),
        }
        if (budget := parse_budget(upwork.get("hourly range"))) is not None:
            fields.update(
                client_budget=budget.amount, client_currency=budget.currency, contract_type="hourly"
            )
        elif (budget := parse_budget(upwork.get("budget"))) is not None:
            fields.update(
                client_budget=budget.amount, client_currency=budget.currency, contract_type="fixed_price"
            )
        return fields
