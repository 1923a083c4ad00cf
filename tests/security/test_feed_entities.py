"""Entity declarations are refused in every encoding; HTML entities used without one resolve.

The refusal reads the text feedparser parses (``xml_safety.safe_feed_bytes``), so a feed that
spells ``<!ENTITY`` in EBCDIC, UTF-7 or UTF-16 without a BOM is refused like a UTF-8 one, and
the word inside CDATA or a comment still parses.
"""

from __future__ import annotations

import codecs
import io

import feedparser
import pytest
from feedparser.encodings import convert_to_utf8

from charlee_collector.core.errors import PermanentSourceError
from charlee_collector.sources import parse_items
from charlee_collector.sources.feeds.xml_safety import safe_feed_bytes

CONFIG = {"url": "https://feeds.example/jobs.rss"}
# 1,000 references to a 1,000-character entity: a million characters from a 10 KB feed.
QUADRATIC = '<!DOCTYPE rss [<!ENTITY big "' + "x" * 1000 + '">]>'


def feed(prolog: str = "", title: str = "Job", description: str = "Text", encoding: str = "utf-8") -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Jobs</title><item><guid>job-1</guid><title>{title}</title>"
        f"<description>{description}</description></item></channel></rss>"
    )


def titles(body: bytes) -> list[str]:
    return [item.title for item in parse_items("rss", body, CONFIG)]


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("cp037", "cp037"),  # EBCDIC, the example
        ("cp500", "cp500"),
        ("cp1140", "cp1140"),
        ("utf-16", "utf-16-le"),  # no BOM: sniffed from "<?xml"
        ("utf-16", "utf-16-be"),
        ("utf-16", "utf-16"),  # with a BOM
        ("utf-32", "utf-32"),
        ("utf-32", "utf-32-be"),
        ("utf-7", "utf-7"),
        ("utf-8", "utf-8"),
        ("iso-8859-1", "latin-1"),
    ],
)
def test_entity_declarations_are_refused_in_every_encoding(declared, codec):
    body = feed(QUADRATIC, title="&big;" * 1000, encoding=declared).encode(codec)
    with pytest.raises(PermanentSourceError, match="declares XML entities"):
        parse_items("rss", body, CONFIG)


def test_utf7_spelling_every_markup_character_is_refused():
    markup = "+ADw-!DOCTYPE rss +AFs-+ADw-!ENTITY big +ACI-xxxxxxxx+ACI-+AD4-+AF0-+AD4-"
    body = feed(markup, title="&big;", encoding="utf-7").encode("ascii")
    with pytest.raises(PermanentSourceError, match="declares XML entities"):
        parse_items("rss", body, CONFIG)


def test_a_byte_order_mark_wins_over_a_declaration_that_disagrees():
    body = codecs.BOM_UTF8 + feed(QUADRATIC, title="&big;", encoding="cp037").encode("utf-8")
    with pytest.raises(PermanentSourceError, match="declares XML entities"):
        parse_items("rss", body, CONFIG)


@pytest.mark.parametrize(
    "prolog",
    [
        "<!DOCTYPE rss [<!ENTITY % p \"<!ENTITY big 'x'>\"> %p;]>",  # parameter entities
        '<!DOCTYPE rss [<!ENTITY big SYSTEM "file:///etc/passwd">]>',  # external entity
        '<!DOCTYPE rss [<!entity big "x">]>',
        '<!-- <!ENTITY big "xxxx"> --><!DOCTYPE rss>',  # feedparser lifts it out of the comment
        '<!DOCTYPE rss SYSTEM "x><!--" [<!ENTITY big "xxxx"> <!-- -->]>',  # ">" in a literal
        '<?pi <!-- ?><!DOCTYPE rss [<!ENTITY big "xxxx">]><!-- -->',  # "<!--" in a PI
        '<!DOCTYPE rss [<!\x01ENTITY big "xxxx">]>',  # a control character dropped later
    ],
    ids=["parameter", "system", "lowercase", "prolog-comment", "quoted-gt", "pi", "control-char"],
)
def test_declarations_in_every_shape_are_refused(prolog):
    with pytest.raises(PermanentSourceError, match="declares XML entities"):
        parse_items("rss", feed(prolog, title="&big;").encode(), CONFIG)


def test_a_doctype_with_an_internal_subset_is_refused_even_without_entities():
    body = feed('<!DOCTYPE rss [<!ATTLIST item kind CDATA "job">]>').encode()
    with pytest.raises(PermanentSourceError, match="internal subset"):
        parse_items("rss", body, CONFIG)


def test_the_words_inside_cdata_comments_and_a_plain_doctype_do_not_refuse_a_feed():
    netscape = (
        '<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" '
        '"http://my.netscape.com/publish/formats/rss-0.91.dtd">'
    )
    body = feed(
        netscape,
        title="<![CDATA[Use <!ENTITY x 'y'> safely]]>",
        description="<!-- <!DOCTYPE x [<!ENTITY y 'z'>]> -->Fine",
    ).encode()
    [item] = parse_items("rss", body, CONFIG)
    assert item.title == "Use safely"
    assert item.description == "Fine"


def test_html_named_entities_resolve_as_a_browser_shows_them():
    body = feed(
        title="Caf&eacute;&nbsp;job &ang; &hellip; &copy 2026 &AMP; &#233;",
        description="&lt;p&gt;Senior&nbsp;dev&lt;/p&gt;",
    ).encode()
    [item] = parse_items("rss", body, CONFIG)
    assert item.title == "Café job ∠ … © 2026 & é"
    assert item.description == "Senior dev"
    assert item.raw is not None and item.raw["title"].startswith("Caf\u00e9\u00a0job")


def test_feeds_with_html_entities_parse_strictly_without_a_fallback():
    safe = safe_feed_bytes(feed(title="&eacute;t&eacute;&nbsp;&rarr;").encode())
    parsed = feedparser.parse(io.BytesIO(safe))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.entries[0].title == "été\u00a0→"


def test_a_feed_with_entities_and_no_items_is_empty_not_malformed():
    body = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Caf&eacute;&nbsp;&ang;</title>'
        b"</channel></rss>"
    )
    assert parse_items("rss", body, CONFIG) == []


def test_unknown_entities_and_bare_ampersands_stay_literal_text():
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>e1</id>'
        b"<title>AT&T &foo; &amp;bar; Q&amp;A</title>"
        b'<link href="https://jobs.example/?a=1&copy=2&b=3"/></entry></feed>'
    )
    [item] = parse_items("rss", body, CONFIG)
    assert item.title == "AT&T &foo; &bar; Q&A"
    assert item.url == "https://jobs.example/?a=1&copy=2&b=3"  # "&copy=" is a query, not ©


def test_entities_inside_cdata_are_left_for_html_to_text():
    body = feed(title="<![CDATA[R&amp;D &nbsp;x]]>", description="<![CDATA[a&eacute;]]>").encode()
    [item] = parse_items("rss", body, CONFIG)
    assert item.title == "R&D x"
    assert item.description == "aé"


@pytest.mark.parametrize(
    ("declared", "codec"),
    [("cp037", "cp037"), ("utf-16", "utf-16"), ("utf-7", "utf-7"), ("utf-8", "latin-1"), ("x-no", "utf-8")],
)
def test_feedparser_reads_exactly_the_checked_bytes(declared, codec):
    checked = safe_feed_bytes(feed(title="Caf\u00e9 &nbsp;", encoding=declared).encode(codec))
    # feedparser's own encoding pass over what it is given changes nothing.
    assert convert_to_utf8({}, checked, {}) == checked


def test_text_that_is_not_unicode_is_refused_clearly():
    body = feed(title="+2AA-", encoding="utf-7").encode("ascii")  # a lone surrogate
    with pytest.raises(PermanentSourceError, match="not Unicode"):
        parse_items("rss", body, CONFIG)


def test_a_codec_that_is_not_a_document_encoding_is_not_used():
    # punycode decodes in quadratic time; the feed is read as UTF-8 instead, like an unknown name.
    assert titles(feed(title="Caf\u00e9", encoding="punycode").encode()) == ["Café"]
