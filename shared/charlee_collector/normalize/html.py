"""HTML to plain text: paragraphs and list items kept as lines, scripts dropped, in batches through libxslt."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from html import unescape
from typing import Any

from lxml import etree

from charlee_collector.core.text import clean_text

# HTML with tags is read from at most this much: a parser's tree costs up to ~150 bytes per
# byte of input ("<p>x<p>x..."), and no job post is longer.
# Within a line, runs of these become one space (other Unicode spaces are only stripped at ends).
_OTHER_SPACES = ("\t", "\r", "\f", "\v", "\u00a0")
# Both patterns start with a literal pair, which re scans for in C before it tries a match:
# "  +" and "\n{3,}" say the same but are tried at every space or newline (3x and 7x slower).
_SPACE_RUN = re.compile("   *")
_MANY_NEWLINES = re.compile("\n\n\n+")

MAX_HTML_CHARS = 256 * 1024


_BLOCK_TAGS = ("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table")


_TAG = re.compile(r"<[A-Za-z/!]")


_BREAK = "\ue000"  # a private-use character marks where block elements break lines


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
        root = _parsed_page(fragment, parser)
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


def html_fragment(html: str) -> Any:
    """``html`` read by this thread's HTML parser as the content of a ``<div>`` element (returned).

    None when the parser reads nothing, or puts the content anywhere but in that ``<div>``.
    Comments and processing instructions are dropped; nothing is fetched.
    """
    page = _parsed_page(html, _html_parser())
    return None if page is None else page.find("body/div")


def _parsed_page(fragment: str, parser: etree.HTMLParser) -> Any:
    """The ``<html>`` page libxml2 makes of ``<div>fragment</div>``, or None when it reads nothing."""
    try:
        return etree.fromstring(f"<div>{fragment}</div>".encode("utf-8", "replace"), parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None


def _words(fragment: str) -> str:
    return unescape(_TAG.sub(" ", fragment))
