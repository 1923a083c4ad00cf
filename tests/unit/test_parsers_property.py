"""Property: whatever the body, every adapter's parse gives Opportunities or a SourceError.

Three kinds of input per source: arbitrary bytes, arbitrary JSON, and JSON in the source's own
envelope whose item fields hold arbitrary JSON values (the likeliest way a real API drifts).
Every Opportunity that comes out must be storable as is. Feeds also get arbitrary text mixed
with HTML entity references in several encodings: they parse, and a declared entity refuses.
"""

from __future__ import annotations

import codecs
import json
import math
from datetime import UTC
from decimal import Decimal
from html.entities import html5
from typing import Any

import pytest
from feedparser.encodings import convert_to_utf8
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charlee_collector.core.errors import PermanentSourceError, SourceError
from charlee_collector.core.limits import LIMITS
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.sources import SOURCE_KEYS, parse_items
from charlee_collector.sources.feeds.fast_feed import read_entries
from charlee_collector.sources.feeds.rss import feedparser_entries
from charlee_collector.sources.feeds.xml_safety import safe_feed_bytes

CONFIGS: dict[str, dict[str, Any]] = {
    "rss": {"url": "https://feeds.example/jobs.rss"},
    "json_api": {
        "url": "https://api.example/jobs",
        "items": "data.jobs",
        "fields": {"external_id": "id", "title": "title", "client_budget": "budget", "posted_at": "date"},
    },
    "hn_freelancer": {"thread": "hiring"},
    **{board: {"board": "acme"} for board in ("greenhouse", "lever", "ashby", "workable", "recruitee")},
    "smartrecruiters": {"board": "acme"},
}
ITEM_FIELDS = {
    "remoteok": [
        "id",
        "slug",
        "position",
        "company",
        "description",
        "url",
        "tags",
        "salary_min",
        "salary_max",
        "epoch",
    ],
    "remotive": [
        "id",
        "title",
        "company_name",
        "description",
        "url",
        "tags",
        "category",
        "salary",
        "publication_date",
    ],
    "himalayas": [
        "guid",
        "title",
        "companyName",
        "description",
        "applicationLink",
        "categories",
        "maxSalary",
        "pubDate",
    ],
    "arbeitnow": ["slug", "title", "company_name", "description", "url", "tags", "created_at"],
    "jobicy": [
        "id",
        "jobTitle",
        "companyName",
        "jobDescription",
        "url",
        "jobIndustry",
        "salaryMax",
        "pubDate",
    ],
    "hn_freelancer": ["objectID", "comment_text", "author", "parent_id", "story_id", "created_at_i"],
    "freelancer_com": [
        "id",
        "title",
        "description",
        "seo_url",
        "currency",
        "budget",
        "type",
        "time_submitted",
        "jobs",
    ],
    "json_api": ["id", "title", "budget", "date"],
    "greenhouse": [
        "id",
        "title",
        "content",
        "absolute_url",
        "location",
        "offices",
        "departments",
        "first_published",
    ],
    "lever": [
        "id",
        "text",
        "description",
        "lists",
        "additional",
        "categories",
        "workplaceType",
        "salaryRange",
        "createdAt",
    ],
    "ashby": [
        "id",
        "title",
        "isListed",
        "descriptionHtml",
        "location",
        "secondaryLocations",
        "compensation",
        "publishedAt",
    ],
    "smartrecruiters": ["id", "name", "company", "location", "function", "releasedDate"],
    "workable": ["shortcode", "title", "description", "telecommuting", "locations", "city", "published_on"],
    "recruitee": [
        "id",
        "title",
        "description",
        "requirements",
        "salary",
        "remote",
        "locations",
        "published_at",
    ],
    "workingnomads": ["url", "title", "description", "tags", "location", "pub_date"],
    "landingjobs": [
        "id",
        "title",
        "url",
        "gross_salary_high",
        "currency_code",
        "remote",
        "locations",
        "published_at",
    ],
}
ENVELOPES = {
    "remoteok": lambda items: [{"legal": "notice"}, *items],
    "remotive": lambda items: {"jobs": items},
    "himalayas": lambda items: {"jobs": items},
    "arbeitnow": lambda items: {"data": items, "links": {"next": None}},
    "jobicy": lambda items: {"jobs": items, "success": True},
    "hn_freelancer": lambda items: {"hits": items},
    "freelancer_com": lambda items: {"status": "success", "result": {"projects": items}},
    "json_api": lambda items: {"data": {"jobs": items}},
    "greenhouse": lambda items: {"jobs": items, "meta": {"total": len(items)}},
    "lever": lambda items: items,
    "ashby": lambda items: {"jobs": items, "apiVersion": "1"},
    "smartrecruiters": lambda items: {"offset": 0, "limit": 100, "totalFound": len(items), "content": items},
    "workable": lambda items: {"name": "Acme", "jobs": items},
    "recruitee": lambda items: {"offers": items},
    "workingnomads": lambda items: items,
    "landingjobs": lambda items: items,
}

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | st.sampled_from(["$15.00-$30.00", "<p>x</p>", "2026-01-01T00:00:00Z", "\x00", "\ud800", "1e400", "7"])
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _dumps(value: Any) -> bytes:
    # allow_nan: real APIs have sent NaN; surrogates survive as escapes, as a server would send them.
    return json.dumps(value, allow_nan=True).encode()


def _check(source: str, body: bytes) -> None:
    try:
        items = parse_items(source, body, CONFIGS.get(source, {}))
    except SourceError:
        return
    assert isinstance(items, list)
    assert len({item.external_id for item in items}) == len(items)
    for item in items:
        _assert_storable(item)


def _assert_storable(item: Opportunity) -> None:
    assert isinstance(item, Opportunity)
    assert item.title and item.external_id
    for column, limit in LIMITS.items():
        value = getattr(item, column)
        assert value is None or len(value) <= limit, column
    for value in (
        item.title,
        item.description,
        item.url,
        item.client_name,
        item.category,
        *item.required_skills,
    ):
        assert value is None or ("\x00" not in value and not any("\ud800" <= ch <= "\udfff" for ch in value))
    if item.client_budget is not None:
        assert item.client_budget.is_finite() and Decimal(0) < item.client_budget < Decimal("1e12")
    assert item.posted_at is None or item.posted_at.tzinfo is UTC
    assert item.url is None or item.url.startswith(("http://", "https://"))
    assert item.contract_type in (None, "fixed_price", "hourly")
    json.dumps(item.raw, allow_nan=False)  # JSONB refuses NaN
    assert all(not isinstance(v, float) or math.isfinite(v) for v in (item.raw or {}).values())


@PROPERTY
@given(source=st.sampled_from(SOURCE_KEYS), body=st.binary(max_size=300))
def test_arbitrary_bytes(source, body):
    _check(source, body)


@PROPERTY
@given(source=st.sampled_from(SOURCE_KEYS), value=json_values)
def test_arbitrary_json(source, value):
    _check(source, _dumps(value))


@pytest.mark.parametrize("source", sorted(ENVELOPES))
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_source_shaped_json_with_arbitrary_fields(source, data):
    fields = ITEM_FIELDS[source]
    item = st.fixed_dictionaries({}, optional={name: json_values for name in fields})
    items = data.draw(st.lists(item | json_values, max_size=5))
    if source == "hn_freelancer":  # make some hits top-level posts so the item path runs
        items = [
            {**hit, "story_id": 1, "parent_id": 1} if isinstance(hit, dict) and len(hit) % 2 else hit
            for hit in items
        ]
    _check(source, _dumps(ENVELOPES[source](items)))


XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40
)


@PROPERTY
@given(title=XML_TEXT, description=XML_TEXT, link=XML_TEXT, date=XML_TEXT, wrap=st.booleans())
def test_feeds_with_arbitrary_text(title, description, link, date, wrap):
    def escape(text: str) -> str:
        return (
            f"<![CDATA[{text.replace(']]>', '')}]]>"
            if wrap
            else text.replace("&", "&amp;").replace("<", "&lt;")
        )

    body = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>t</title><item>'
        f"<title>{escape(title)}</title><description>{escape(description)}</description>"
        f"<link>{escape(link)}</link><pubDate>{escape(date)}</pubDate><region>{escape(title)}</region>"
        "</item></channel></rss>"
    ).encode("utf-8", "surrogatepass")
    _check("rss", body)


ENTITY_NAMES = st.sampled_from(sorted(html5)) | st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,8};?", fullmatch=True)
FEED_TEXT = st.lists(
    XML_TEXT.map(lambda t: t.replace("&", "&amp;").replace("<", "&lt;")) | ENTITY_NAMES.map("&{}".format)
)
ENCODINGS = st.sampled_from(["utf-8", "utf-16", "utf-16-le", "utf-32", "cp037", "cp500", "utf-7", "latin-1"])


@PROPERTY
@given(parts=FEED_TEXT, encoding=ENCODINGS, entities=st.booleans())
def test_feeds_with_html_entities_in_any_encoding(parts, encoding, entities):
    """Undeclared HTML entities never make a feed fail; a declared entity always refuses it."""
    title = "".join(parts)
    prolog = '<!DOCTYPE rss [<!ENTITY e "x">]>' if entities else ""
    text = (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}<rss version="2.0"><channel><title>t</title>'
        f"<item><guid>g</guid><title>x{title}</title></item></channel></rss>"
    )
    try:
        body = text.encode(encoding)
    except UnicodeEncodeError:
        return  # a character the encoding cannot spell
    if entities:
        with pytest.raises(PermanentSourceError, match="declares XML entities"):
            parse_items("rss", body, CONFIGS["rss"])
        return
    [item] = parse_items("rss", body, CONFIGS["rss"])
    _assert_storable(item)
    checked = safe_feed_bytes(body)
    assert convert_to_utf8({}, checked, {}) == checked  # feedparser parses what was checked


@PROPERTY
@given(text=XML_TEXT, bom=st.booleans(), declared=st.sampled_from(["utf-8", "UTF8", "utf_8", ""]))
def test_a_utf8_feed_is_checked_as_the_same_feed_in_another_encoding(text, bom, declared):
    """UTF-8 bodies are kept as they came (not decoded and encoded again): the result must not tell."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace("\r", "")
    declaration = f'<?xml version="1.0" encoding="{declared}"?>' if declared else ""
    rest = f'<rss version="2.0"><channel><title>{escaped}</title></channel></rss>'
    body = (codecs.BOM_UTF8 if bom else b"") + (declaration + rest).encode("utf-8")
    other = f'<?xml version="1.0" encoding="utf-16"?>{rest}'.encode("utf-16")
    assert safe_feed_bytes(body) == safe_feed_bytes(other)


def test_a_feed_declared_utf8_that_is_not_is_read_as_windows_1252_and_made_utf8():
    body = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Caf\xe9</title></channel></rss>'
    assert "<title>Caf\u00e9</title>" in safe_feed_bytes(body).decode("utf-8")


@pytest.mark.parametrize(
    ("title", "read"),
    [
        ("Plain ASCII  title", "Plain ASCII  title"),
        ("Caf\u00c3\u00a9 owner", "Caf\u00e9 owner"),  # UTF-8 read as Latin-1: repaired, as feedparser does
        ("Caf\u00e9 owner", "Caf\u00e9 owner"),  # Latin-1 that is not UTF-8's bytes: kept
        ("Caf\u00c3\u00a9 \u2014 owner", "Caf\u00c3\u00a9 \u2014 owner"),  # beyond Latin-1: kept
    ],
)
def test_the_fast_reader_repairs_utf8_read_as_latin1_as_feedparser_does(title, read):
    body = (
        '<rss version="2.0"><channel><title>t</title>'
        f"<item><guid>g</guid><title>{title}</title><author>{title}</author></item></channel></rss>"
    ).encode()
    checked = safe_feed_bytes(body)
    [fast] = read_entries(checked, "https://feeds.example/", limit=10, check=lambda: None)
    [slow] = feedparser_entries(checked, "https://feeds.example/")
    assert fast["title"] == fast["author"] == slow["title"] == read
