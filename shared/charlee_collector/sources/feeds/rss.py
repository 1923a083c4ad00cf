"""Any RSS 0.9x/1.0/2.0, Atom or JSON Feed (``json_feed``), parsed from bytes (never a URL).

Verified against real captures (``fixtures/real/weworkremotely``, ``fixtures/real/upwork``); an
entry's relative link is resolved against the feed's address. Upwork: the description's closing
``<b>Label</b>: value`` lines become fields (``Budget`` a fixed price, ``Hourly Range`` hourly, its
upper end the budget) and the title loses " - Upwork"; We Work Remotely: "Company: Role" titles and
item elements give client, country and skills; other feeds state no budget. feedparser reads only
what ``xml_safety.safe_feed_bytes`` gives back (one encoding, no entity declarations, bounded).
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import feedparser

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.budgets import parse_budget
from charlee_collector.normalize.html import html_texts, html_to_text
from charlee_collector.normalize.opportunities import build_opportunity
from charlee_collector.normalize.text import one_line
from charlee_collector.sources.base import BaseSourceConfig, Source, WebUrl
from charlee_collector.sources.feeds.json_feed import is_json, json_feed_fields
from charlee_collector.sources.feeds.xml_safety import safe_feed_bytes

if TYPE_CHECKING:
    from bs4 import Tag

FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/xml;q=0.9, "
    "text/xml;q=0.8, */*;q=0.5"
)
UPWORK_LABELS = ("budget", "hourly range", "posted on", "category", "skills", "country")
WWR_ELEMENTS = ("region", "country", "state", "skills", "type", "expires_at")
# Upwork's descriptions are short and carry a handful of labels. bs4 takes ~200 us per tag, so
# longer or bolder HTML is not read for labels: a 10 MB feed of it would take minutes.
UPWORK_HTML_CHARS = 32 * 1024
UPWORK_MAX_BOLD = 40


class RssConfig(BaseSourceConfig):
    """``url`` of the feed (required)."""

    url: WebUrl


def _label_value(label: Tag) -> str | None:
    from bs4 import Tag

    parts: list[str] = []
    for sibling in label.next_siblings:
        if isinstance(sibling, Tag) and sibling.name in ("b", "br", "a"):
            break
        parts.append(sibling.get_text() if isinstance(sibling, Tag) else str(sibling))
    return one_line("".join(parts).strip().removeprefix(":"))


def upwork_fields(html: str) -> tuple[str | None, dict[str, str]]:
    """The description above Upwork's ``<b>Label</b>: value`` block, and that block's fields."""
    if "<b>" not in html or len(html) > UPWORK_HTML_CHARS or html.count("<b>") > UPWORK_MAX_BOLD:
        return html, {}
    # Only Upwork-style items need a tree walk by sibling: bs4 loads on first use, not at cold start.
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = BeautifulSoup(html, "html.parser")
    fields: dict[str, str] = {}
    first_label: Tag | None = None
    for bold in soup.find_all("b"):
        label = " ".join(bold.get_text().split()).casefold()
        if not label:
            continue
        value = _label_value(bold)
        if value is not None:
            fields.setdefault(label, value)
        if first_label is None and label in UPWORK_LABELS:
            first_label = bold
    if first_label is None:
        return html, {}
    above = reversed([s for s in first_label.previous_siblings if isinstance(s, Tag | NavigableString)])
    return "".join(str(node) for node in above), fields


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
        if not body.strip():
            raise PermanentSourceError("rss payload could not be parsed: the response body is empty")
        if is_json(body):
            entries = json_feed_fields(body, str(config.url))
        else:
            entries = [self._fields(entry) for entry in self._feed_entries(body, str(config.url))]
        descriptions = html_texts([fields.pop("description_html") for fields in entries])
        items = (
            build_opportunity(description=fields.pop("description", None) or description, **fields)
            for fields, description in zip(entries, descriptions, strict=True)
        )
        return [item for item in items if item is not None]

    @staticmethod
    def _feed_entries(body: bytes, url: str) -> list[Any]:
        """feedparser's entries of an RSS or Atom feed; links relative to the feed's address."""
        # Sanitising and resolving links inside content is wasted work: only plain text is stored.
        parsed = feedparser.parse(
            io.BytesIO(safe_feed_bytes(body)),
            sanitize_html=False,
            resolve_relative_uris=False,
            # The base for relative links; the type says what safe_feed_bytes made of the body
            # (without one feedparser flags every feed "no Content-type specified").
            response_headers={"content-location": url, "content-type": "application/xml; charset=utf-8"},
        )
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
        return list(parsed.entries)

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
