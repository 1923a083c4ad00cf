"""RSS 2.0/0.9x (items in a channel) and Atom 1.0 read with lxml, entry by entry as feedparser reads them.

``read_entries(document, base_url, limit=, check=)`` takes the bytes ``xml_safety.safe_feed_bytes``
gave back and returns, for the ``limit`` newest entries in document order, a dict with the keys
``rss`` reads from a feedparser entry (``id``, ``link``, ``title``, ``summary``, ``content``,
``author``, ``tags``, ``enclosures``, ``published``/``updated`` and ``..._parsed``, We Work
Remotely's elements), resolved as feedparser resolves them. Anything else (RDF, pre-1.0 Atom, CDF,
RSS without a channel, malformed XML, a date it cannot read) raises ``UnreadableFeed``: the caller
gives those to feedparser. The parser resolves no entity, loads no DTD and never uses the network.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from copy import deepcopy
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urljoin

from lxml import etree

T = TypeVar("T")
ATOM = "{http://www.w3.org/2005/Atom}"
CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
DC = "{http://purl.org/dc/elements/1.1/}"
XHTML = "{http://www.w3.org/1999/xhtml}"
WWR_ELEMENTS = ("region", "country", "state", "skills", "type", "expires_at")
_HTML_TYPES = ("text/html", "html", "application/xhtml+xml", "xhtml")
MEDIA = ("{http://search.yahoo.com/mrss}", "{http://search.yahoo.com/mrss/}")
# Local names (lowercased, as feedparser lowercases them) that feedparser reads into a field
# ``rss`` uses, from no namespace or a namespace it knows: titles, summaries, content, links,
# ids, authors, tags, enclosures and dates, and We Work Remotely's elements. An entry holding
# one that this reader does not read as feedparser does (dcterms:modified, an RSS <updated>,
# <link href=...>, media:title, <Title>...) is read by feedparser.
_FIELD_NAMES = frozenset(
    (
        "title", "description", "summary", "abstract", "content", "encoded", "fullitem", "body",
        "link", "guid", "id", "author", "creator", "managingeditor", "category", "subject",
        "keywords", "tags", "enclosure", "pubdate", "published", "issued", "date", "updated",
        "modified", "lastbuilddate", *WWR_ELEMENTS,
    )
)  # fmt: skip
# media:content and media:group hold what feedparser keeps apart (media_content), but their
# children pass through its handlers like an entry's own (media:title is a title).
_MEDIA_CONTAINERS = frozenset(f"{namespace}{name}" for namespace in MEDIA for name in ("content", "group"))
_CHECK_EVERY = 1_000  # entries between two looks at the deadline
# feedparser's own repair of "http:///host" before it joins a link to its base.
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")
# Parsers are not shared between threads (the collector parses on a thread pool): one each.
_per_thread = threading.local()


class UnreadableFeed(Exception):
    """The fast reader cannot read this document as feedparser would; feedparser must."""


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_per_thread, "parser", None)
    if parser is None:
        # huge_tree lifts libxml2's 10 MB text and 256-deep limits only: the body is capped at
        # MAX_RESPONSE_BYTES, safe_feed_bytes bounds elements (500,000) and depth (1,000) past
        # 100,000 start tags, and below that libxml2 still stops at 2,048 deep (then: feedparser).
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=True,
            remove_comments=True,
            remove_pis=True,
            strip_cdata=True,
        )
        _per_thread.parser = parser
    return parser


def keep_newest(items: Sequence[T], dates: Sequence[datetime | None], limit: int) -> list[T]:
    """The ``limit`` items with the latest dates (undated ones count as oldest), in their own order."""
    if len(items) <= limit:
        return list(items)
    oldest = datetime.min.replace(tzinfo=UTC)
    ranked = sorted(range(len(items)), key=lambda i: dates[i] or oldest, reverse=True)
    return [items[i] for i in sorted(ranked[:limit])]


def read_entries(
    document: bytes, base_url: str, *, limit: int, check: Callable[[], None]
) -> list[dict[str, Any]]:
    """feedparser-shaped entries of an RSS 2.0 or Atom 1.0 document; ``check`` raises past the deadline."""
    try:
        root = etree.fromstring(document, _parser(), base_url=base_url)
    except etree.LxmlError as exc:
        raise UnreadableFeed(f"not read by lxml: {exc}") from exc
    if root.tag == "rss" and root.find("channel") is not None and root.find("item") is None:
        items, read, date_of = root.find("channel").findall("item"), _rss_entry, _rss_date
    elif root.tag == f"{ATOM}feed":
        items, read, date_of = root.findall(f"{ATOM}entry"), _atom_entry, _atom_date
    else:
        raise UnreadableFeed(f"a <{root.tag}> document")
    if len(items) > limit:  # dated twice only when the bound has to choose
        items = keep_newest(items, [date_of(item) for item in items], limit)
        check()
    entries = []
    for n, item in enumerate(items, 1):
        entries.append(read(item))
        if n % _CHECK_EVERY == 0:
            check()
    return entries


def _text(element: Any) -> str:
    """An element's text as feedparser gives it: stripped, with UTF-8 read as Latin-1 repaired."""
    text = (element.text or "").strip()
    if text.isascii():
        return text  # nothing to repair (and no exception to raise and catch per element)
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def _inner(element: Any) -> str:
    """The element's content with any child markup kept as markup (feedparser keeps it too)."""
    if len(element) == 0:
        return _text(element)
    copy = deepcopy(element)
    for node in copy.iter():
        if isinstance(node.tag, str):
            node.tag = etree.QName(node).localname  # XHTML's namespace is not part of the HTML
    etree.cleanup_namespaces(copy)
    markup = (copy.text or "") + "".join(etree.tostring(child, encoding=str) for child in copy)
    copy.text, copy[:] = markup, []
    return _text(copy)


def _resolved(element: Any, uri: str) -> str:
    try:
        return urljoin(element.base or "", _URI_FIXER.sub(r"\1\3", uri))
    except ValueError:
        return ""


def _date(value: str) -> datetime | None:
    """feedparser's reading of an RFC 822 or W3C date, to the second; unreadable: ``UnreadableFeed``."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        try:
            parsed = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError) as exc:
            raise UnreadableFeed(f"a date feedparser may read otherwise: {value!r}") from exc
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.replace(microsecond=0)


def _first_date(item: Any, published: Sequence[str], updated: Sequence[str]) -> datetime | None:
    for names in (published, updated):
        for name in names:
            found = item.find(name)
            if found is not None and found.text and found.text.strip():
                return _date(found.text.strip())
    return None


def _rss_date(item: Any) -> datetime | None:
    return _first_date(item, ("pubDate", f"{ATOM}published"), (f"{DC}date", f"{ATOM}updated"))


def _atom_date(item: Any) -> datetime | None:
    return _first_date(item, (f"{ATOM}published",), (f"{ATOM}updated",))


def _set_date(entry: dict[str, Any], key: str, value: str) -> None:
    entry[key], entry[f"{key}_parsed"] = value, _date(value)


def _rss_entry(item: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    enclosures: list[dict[str, str]] = []
    guid_link = None
    for child in item:
        tag = child.tag
        if tag in ("title", "description"):
            entry["title" if tag == "title" else "summary"] = _inner(child)
        elif tag == CONTENT_ENCODED:
            entry["content"] = [{"value": _inner(child)}]
        elif tag == "link":
            if child.get("href") is not None:
                raise UnreadableFeed("an RSS <link> with an href attribute")
            entry["link"] = _resolved(child, _text(child))
        elif tag == "guid":
            # A guid is a permalink unless it says isPermaLink="false" (feedparser: exactly "true").
            permalink = {k.lower(): v for k, v in child.attrib.items()}.get("ispermalink", "true") == "true"
            entry["id"] = _resolved(child, _text(child)) if permalink else _text(child)
            guid_link = entry["id"] if permalink else guid_link
        elif tag in ("author", f"{DC}creator"):
            entry["author"] = _text(child)  # the last one wins, as in feedparser
        elif tag in ("category", f"{DC}subject"):
            if term := _text(child):
                tags.append({"term": term})
        elif tag == "enclosure":
            enclosures.append({"href": child.get("url", "")})
        elif tag in ("pubDate", f"{ATOM}published"):
            _set_date(entry, "published", _text(child))
        elif tag in (f"{DC}date", f"{ATOM}updated"):
            _set_date(entry, "updated", _text(child))
        elif tag in WWR_ELEMENTS:
            entry[tag] = _text(child)
        else:
            _refuse_unread_field(child)
    if guid_link and "link" not in entry:
        entry["link"] = guid_link
    return {**entry, "tags": tags, "enclosures": enclosures}


def _refuse_unread_field(child: Any) -> None:
    """``UnreadableFeed`` when feedparser would read ``child``, which this reader skips, into a field.

    Falling back costs only speed; reading on would lose the field feedparser reads (a date, a
    link...): whatever this reader cannot vouch for is feedparser's.
    """
    if not isinstance(child.tag, str):
        return  # an unresolved entity reference: text, no field
    if child.tag in _MEDIA_CONTAINERS:
        for part in child:
            _refuse_unread_field(part)
        return
    name = etree.QName(child).localname.lower()
    if name in _FIELD_NAMES:
        raise UnreadableFeed(f"an entry's <{child.tag}>, which feedparser reads into a field")


def _atom_text(element: Any) -> str:
    if element.get("type", "text").lower() in ("xhtml", "application/xhtml+xml"):
        div = element.find(f"{XHTML}div")
        # feedparser drops the one <div> that wraps all of the content.
        if div is not None and len(element) == 1 and not (element.text or "").strip():
            return _inner(div)
    return _inner(element)


def _atom_entry(item: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    tags: list[dict[str, str]] = []
    enclosures: list[dict[str, str]] = []
    name = email = ""
    for child in item:
        tag = child.tag
        if tag in (f"{ATOM}title", f"{ATOM}summary"):
            entry[tag.removeprefix(ATOM)] = _atom_text(child)
        elif tag == f"{ATOM}content":
            entry["content"] = [{"value": _atom_text(child)}]
        elif tag == f"{ATOM}id":
            entry["id"] = _resolved(child, _text(child))
        elif tag == f"{ATOM}link" and child.get("href") is not None:
            rel, href = child.get("rel", "alternate"), _resolved(child, child.get("href", "").strip())
            if rel == "enclosure":
                enclosures.append({"href": href})
            elif rel == "alternate" and child.get("type", "text/html").lower() in _HTML_TYPES:
                entry["link"] = href
        elif tag == f"{ATOM}author":
            # feedparser folds every author of an entry into one name and one address.
            for part in child:
                if part.tag == f"{ATOM}name" and _text(part):
                    name = _text(part)
                elif part.tag == f"{ATOM}email" and _text(part):
                    email = _text(part)
        elif tag == f"{ATOM}category":
            if term := (child.get("term") or "").strip():
                tags.append({"term": term})
        elif tag == f"{ATOM}published":
            _set_date(entry, "published", _text(child))
        elif tag == f"{ATOM}updated":
            _set_date(entry, "updated", _text(child))
        else:
            _refuse_unread_field(child)
    if name or email:
        entry["author"] = f"{name} ({email})" if name and email else name or email
    if "link" not in entry and entry.get("id"):
        entry["link"] = entry["id"]  # feedparser takes an entry's id for its link when it has none
    return {**entry, "tags": tags, "enclosures": enclosures}
