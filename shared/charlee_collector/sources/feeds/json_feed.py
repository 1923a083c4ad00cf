"""JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/), read by the ``rss`` source.

A feed URL may serve JSON Feed instead of RSS or Atom (feedparser reads only XML). Each item
becomes the fields an RSS entry does: ``id`` (the URL without one), ``title`` (else the text's
first line), ``content_html`` (turned into text with the other items') or else ``content_text`` or
``summary``, ``url`` (or ``external_url``, resolved against the feed's address), ``date_published``
(or ``date_modified``), the first author's name (1.1's ``authors``, 1.0's ``author``) and the
first tag as the category.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.sources.base import expect, load_json, records, strings, text

VERSION_PREFIXES = ("https://jsonfeed.org/version/", "http://jsonfeed.org/version/")
_RAW_KEYS = ("id", "url", "external_url", "title", "date_published", "date_modified", "tags")


def is_json(body: bytes) -> bool:
    """True when the body is a JSON object (its first byte past a BOM and blanks is ``{``)."""
    return body.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def json_feed_fields(body: bytes, base_url: str) -> list[dict[str, Any]]:
    """The fields of each item of a JSON Feed (``description_html`` still HTML, or ``None``)."""
    feed = expect(load_json(body, "rss"), dict, "rss", "a JSON Feed object")
    version = feed.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION_PREFIXES):
        raise PermanentSourceError(
            "rss payload could not be parsed: JSON, but not a JSON Feed (no https://jsonfeed.org/version/ "
            "version); the json_api source reads other JSON APIs"
        )
    return [_fields(item, base_url) for item in records(feed.get("items"))]


def _fields(item: Any, base_url: str) -> dict[str, Any]:
    link = text(item.get("url")) or text(item.get("external_url"))
    url = urljoin(base_url, link) if link else None
    html = text(item.get("content_html"))
    authors = records(item.get("authors")) or records([item.get("author")])
    tags = strings(item.get("tags"))
    return {
        "external_id": text(item.get("id")) or url,
        "title": text(item.get("title")),
        "description_html": html,
        "description": None if html else text(item.get("content_text")) or text(item.get("summary")),
        "url": url,
        "posted_at": text(item.get("date_published")) or text(item.get("date_modified")),
        "client_name": text(authors[0].get("name")) if authors else None,
        "category": tags[0] if tags else None,
        "raw": {key: item.get(key) for key in _RAW_KEYS if item.get(key) is not None},
    }
