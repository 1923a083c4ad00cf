"""The fast feed reader (lxml) and feedparser give the same opportunities; the deadline and bound hold.

Every feed the project ships (``tests/fixtures/sources/*.xml``) and every real RSS/Atom capture in
``../shared/fixtures/real`` (read in place) is read by both paths and normalised: the opportunities,
``raw`` included, must be equal. No case differs on purpose today; one that comes to differ must
be named here with the reason the fast path is right. The odd formats the fast reader leaves to
feedparser (RSS 1.0/RDF, Atom 0.3, items beside the channel) give the same shape as RSS 2.0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.fetching.client import Deadline, Fetcher
from charlee_collector.sources import fetch_platform, parse_items
from charlee_collector.sources.feeds import rss
from charlee_collector.sources.feeds.fast_feed import UnreadableFeed, read_entries
from charlee_collector.sources.feeds.rss import RssSource, feed_entries
from charlee_collector.sources.feeds.xml_safety import safe_feed_bytes

REAL = Path(__file__).parents[2].parent / "shared" / "fixtures" / "real"
OWN = Path(__file__).parents[1] / "fixtures" / "sources"
URL = "https://agency.example/feeds/all.xml"
ODD_FORMATS = ("rss10_rdf.xml", "atom03.xml", "rss09x_no_channel.xml")
REAL_FEEDS = sorted(REAL.glob("*/*.xml")) if REAL.is_dir() else []
real_capture = [
    pytest.mark.real_capture,
    pytest.mark.skipif(not REAL.is_dir(), reason=f"real captures folder {REAL} is absent"),
]


def both_readers(body: bytes) -> tuple[list, list]:
    source = RssSource()
    fast = source.feed_opportunities(feed_entries(body, URL))
    slow = source.feed_opportunities(feed_entries(body, URL, fast=False))
    return fast, slow


def fast_reader_reads(body: bytes) -> bool:
    try:
        read_entries(safe_feed_bytes(body), URL, limit=rss.MAX_FEED_ITEMS, check=lambda: None)
    except UnreadableFeed:
        return False
    return True


@pytest.mark.parametrize("path", sorted(OWN.glob("*.xml")), ids=lambda path: path.name)
def test_both_readers_agree_on_every_feed_the_project_ships(path):
    fast, slow = both_readers(path.read_bytes())
    assert fast and fast == slow
    assert fast_reader_reads(path.read_bytes()) == (path.name not in ODD_FORMATS)


def test_every_real_feed_capture_is_compared():
    if not REAL.is_dir():
        pytest.skip(f"real captures folder {REAL} is absent")
    assert {path.parent.name for path in REAL_FEEDS} >= {"weworkremotely", "upwork"}


@pytest.mark.parametrize(
    "path", [pytest.param(path, marks=real_capture) for path in REAL_FEEDS], ids=lambda path: path.name
)
def test_both_readers_agree_on_every_real_feed_capture(path):
    body = path.read_bytes()
    fast, slow = both_readers(body)
    assert fast and fast == slow
    assert fast_reader_reads(body)  # the real feeds take the fast path


@pytest.mark.parametrize("name", ODD_FORMATS)
def test_odd_formats_fall_back_to_feedparser_with_the_same_shape(name):
    body = (OWN / name).read_bytes()
    assert not fast_reader_reads(body)
    items = parse_items("rss", body, {"url": URL})
    assert [(item.external_id, item.url, item.title, item.description, item.posted_at) for item in items] == [
        (
            "https://agency.example/gigs/django-api",
            "https://agency.example/gigs/django-api",
            "Django API contract",
            "Build a REST API.",
            datetime(2026, 1, 6, 10, 0, tzinfo=UTC),
        ),
        (
            "https://agency.example/gigs/copy-edit",
            "https://agency.example/gigs/copy-edit",
            "Copy-edit a white paper",
            "Twelve pages, British English.",
            datetime(2026, 1, 5, 10, 30, tzinfo=UTC),
        ),
    ]
    assert items[0].client_name == "Agency Example"


def test_links_ids_and_enclosures_are_resolved_as_feedparser_resolves_them():
    items = {
        item.title: item
        for item in parse_items("rss", (OWN / "atom_xhtml_enclosures.xml").read_bytes(), {"url": URL})
    }
    logo = items["Logo refresh"]  # an XHTML title, its wrapping <div> dropped
    assert logo.external_id == "https://studio.example/feeds/commission/41"  # xml:base applies to ids
    assert logo.url == "https://studio.example/commissions/41"  # the HTML alternate, not the JSON one
    assert logo.raw is not None and logo.raw["enclosures"] == ["https://studio.example/feeds/briefs/41.png"]
    assert logo.description == "A new logo.\n\n- SVG\n- PNG"
    assert logo.client_name == "Studio Example (hello@studio.example)"
    assert logo.posted_at == datetime(2026, 1, 6, 7, 0, tzinfo=UTC)  # published wins over updated
    gigs = {
        item.title: item
        for item in parse_items("rss", (OWN / "feed_links_enclosures.xml").read_bytes(), {"url": URL})
    }
    copy_edit = gigs["Copy-edit a white paper"]  # a permalink guid is the link, under the item's xml:base
    assert (
        copy_edit.url
        == copy_edit.external_id
        == "https://cdn.agency.example/archive/gigs/copy-edit?ref=rss&lang=en"
    )
    assert copy_edit.posted_at == datetime(2026, 1, 5, 10, 30, tzinfo=UTC)  # to the second, as feedparser
    assert gigs["Django API contract"].external_id == "gig-1"  # isPermaLink="false": not resolved
    assert gigs["Translate a brochure"].raw["enclosures"] == [
        "https://agency.example/files/brochure.pdf",
        "https://agency.example/files/glossary.pdf",
    ]


NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:media="http://search.yahoo.com/mrss/" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
    'xmlns:atom="http://www.w3.org/2005/Atom" xmlns:other="https://other.example/ns"'
)
# Entries holding an element feedparser reads into a field and the fast reader does not read as
# it does. Each is left to feedparser whole, so the opportunity is the one feedparser gives (the
# first three came from a public parser-test corpus, where the fast reader lost the date or link).
FEEDPARSER_FIELDS = {
    "dcterms_modified": "<dcterms:modified>2002-09-28T20:01:19Z</dcterms:modified>",
    "dcterms_issued": "<dcterms:issued>2002-09-28T20:01:19Z</dcterms:issued>",
    "rss_updated_and_link_href": '<link href="https://jobs.example/podcast/1"/><updated>2012-03-26T23:25:19Z</updated>',
    "rss_id": "<id>urn:uuid:3241ace2</id>",
    "rss_summary": "<summary>Short text</summary>",
    "capitalised_title": "<Title>Capitalised</Title>",
    "capitalised_pubdate": "<PubDate>Mon, 05 Jan 2026 10:00:00 GMT</PubDate>",
    "media_title_in_group": "<media:group><media:title>From media</media:title></media:group>",
    "media_description": "<media:description>Described by media</media:description>",
    "media_category": "<media:category>Design</media:category>",
    "itunes_author": "<itunes:author>Podcaster</itunes:author>",
    "itunes_summary": "<itunes:summary>Podcast text</itunes:summary>",
    "dc_title": "<dc:title>DC title</dc:title>",
    "atom_link_in_rss": '<atom:link rel="alternate" href="https://jobs.example/atom-link"/>',
    "keywords": "<keywords>python, go</keywords>",
    # feedparser keeps another vocabulary's title apart, but the rule goes by local name: falling
    # back costs only speed, and a namespace feedparser knows under another URI reads as a field.
    "unknown_namespace_title": "<other:title>Another vocabulary's title</other:title>",
}


@pytest.mark.parametrize("extra", FEEDPARSER_FIELDS.values(), ids=FEEDPARSER_FIELDS.keys())
def test_an_rss_entry_with_a_field_the_fast_reader_skips_is_read_by_feedparser(extra):
    body = (
        f'<rss version="2.0" {NAMESPACES}><channel><title>t</title>'
        f"<item><title>Job</title><guid>job-1</guid>{extra}</item></channel></rss>"
    ).encode()
    assert not fast_reader_reads(body)
    fast, slow = both_readers(body)
    assert fast == slow


ATOM_FEEDPARSER_FIELDS = {
    "dc_creator": "<dc:creator>Writer</dc:creator>",
    "dc_date": "<dc:date>2026-01-05T10:00:00Z</dc:date>",
    "dc_subject": "<dc:subject>Design</dc:subject>",
    "media_title": "<media:title>From media</media:title>",
}


@pytest.mark.parametrize("extra", ATOM_FEEDPARSER_FIELDS.values(), ids=ATOM_FEEDPARSER_FIELDS.keys())
def test_an_atom_entry_with_a_field_the_fast_reader_skips_is_read_by_feedparser(extra):
    body = (
        f'<feed xmlns="http://www.w3.org/2005/Atom" {NAMESPACES.replace(" xmlns:atom=", " xmlns:a=")}>'
        "<title>t</title><id>urn:feed</id><updated>2026-01-05T10:00:00Z</updated>"
        f'<entry><title>Job</title><id>urn:job-1</id><link href="https://jobs.example/1"/>{extra}</entry></feed>'
    ).encode()
    assert not fast_reader_reads(body)
    fast, slow = both_readers(body)
    assert fast == slow


@pytest.mark.parametrize(
    "extra",
    [
        '<media:content url="https://jobs.example/logo.png" medium="image"/>',  # We Work Remotely's
        "<other:salary>90k</other:salary>",  # another vocabulary's element, no field's name
        "<comments>https://jobs.example/1#comments</comments>",
        '<media:thumbnail url="https://jobs.example/t.png"/>',
    ],
    ids=["media_content", "unknown_namespace", "comments", "media_thumbnail"],
)
def test_elements_feedparser_keeps_apart_do_not_slow_the_fast_reader(extra):
    body = (
        f'<rss version="2.0" {NAMESPACES}><channel><title>t</title>'
        f"<item><title>Job</title><guid>job-1</guid><link>https://jobs.example/1</link>{extra}</item>"
        "</channel></rss>"
    ).encode()
    assert fast_reader_reads(body)
    fast, slow = both_readers(body)
    assert fast and fast == slow


def rss_feed(dates: list[int]) -> bytes:
    items = "".join(
        f"<item><title>Job {n}</title><link>https://jobs.example/{n}</link>"
        + (f"<pubDate>Mon, {day:02d} Jan 2026 10:00:00 GMT</pubDate>" if day else "")
        + "</item>"
        for n, day in enumerate(dates)
    )
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "feedparser"])
def test_a_feed_past_the_bound_keeps_its_newest_items_in_feed_order(monkeypatch, fast):
    monkeypatch.setattr(rss, "MAX_FEED_ITEMS", 3)
    body = rss_feed([5, 0, 9, 1, 7, 6])  # job 1 is undated: it counts as the oldest
    items = RssSource().feed_opportunities(feed_entries(body, URL, fast=fast))
    assert [item.title for item in items] == ["Job 2", "Job 4", "Job 5"]


def test_a_json_feed_past_the_bound_keeps_its_newest_items(monkeypatch):
    monkeypatch.setattr(rss, "MAX_FEED_ITEMS", 2)
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ['
        b'{"id": "a", "title": "A", "date_published": "2026-01-01T00:00:00Z"},'
        b'{"id": "b", "title": "B", "date_published": "2026-01-03T00:00:00Z"},'
        b'{"id": "c", "title": "C", "date_published": "2026-01-02T00:00:00Z"}]}'
    )
    assert [item.external_id for item in parse_items("rss", body, {"url": URL})] == ["b", "c"]


def rdf_feed(items: int) -> bytes:
    entries = "".join(
        f'<item rdf:about="https://jobs.example/{n}"><title>Job {n}</title>'
        f"<link>https://jobs.example/{n}</link><description>Job number {n}</description></item>"
        for n in range(items)
    )
    return (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">'
        f'<channel rdf:about="https://jobs.example/"><title>t</title></channel>{entries}</rdf:RDF>'
    ).encode()


def test_a_feed_past_the_deadline_is_a_failed_parse_naming_the_deadline():
    body = (OWN / "rss_wwr.xml").read_bytes()
    with pytest.raises(
        PermanentSourceError, match=r"parsing the feed did not finish within .*COLLECTION_DEADLINE"
    ):
        RssSource().parse_payload(body, RssSource.Config(url=URL), deadline=Deadline(0))


def test_feedparser_starts_only_when_the_deadline_leaves_it_time_enough():
    body = rdf_feed(20_000)  # ~100,000 elements: far more than 5 s of feedparser's time
    with pytest.raises(
        PermanentSourceError, match=r"with feedparser \(up to .* s for .* elements\).*deadline"
    ):
        RssSource().parse_payload(body, RssSource.Config(url=URL), deadline=Deadline(5))
    assert len(parse_items("rss", rdf_feed(20), {"url": URL})) == 20  # a small one parses


def test_the_collection_deadline_reaches_the_parse(http_server, http_client, allow_private_networks):
    http_server.route("/big.rdf", body=rdf_feed(20_000), content_type="application/rdf+xml")
    fetcher = Fetcher(http_client, allow_private_networks, deadline=Deadline(5))
    with pytest.raises(PermanentSourceError, match="COLLECTION_DEADLINE_SECONDS"):
        fetch_platform("rss", {"url": http_server.url("/big.rdf")}, fetcher)


@pytest.mark.parametrize(("depth", "fast_reads"), [(1_500, True), (3_000, False)])
def test_markup_nested_past_libxml2s_limit_falls_back_with_the_same_result(depth, fast_reads):
    body = (
        '<rss version="2.0"><channel><item><title>t</title><link>https://jobs.example/1</link><description>'
        + "<a>x" * depth
        + "</a>" * depth
        + "</description></item></channel></rss>"
    ).encode()
    assert fast_reader_reads(body) == fast_reads  # huge_tree still stops at 2,048 deep
    fast, slow = both_readers(body)
    assert fast and fast == slow
