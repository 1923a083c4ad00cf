"""Feed bytes made safe for feedparser: one encoding, no entity declarations, bounded nesting.

``safe_feed_bytes(body)`` gives the UTF-8 document feedparser should parse (decoded once, by
feedparser's own rules, so every check reads the text the parser reads), or raises
``PermanentSourceError`` (run ``failed``) for: any ``<!ENTITY`` in the prolog or outside comments, CDATA
and processing instructions; a DOCTYPE internal subset; more than ``MAX_DEPTH`` elements open or
``MAX_ELEMENTS`` in all; a malformed document past ``LENIENT_ELEMENTS`` start tags. Undeclared HTML
entities become character references (unknown ones stay text); C0 controls are dropped.
"""

from __future__ import annotations

import codecs
import functools
import re
import xml.parsers.expat
from html.entities import html5

from charlee_collector.core.errors import PermanentSourceError

LENIENT_ELEMENTS = 100_000
MAX_DEPTH = 1_000
MAX_ELEMENTS = 500_000

_DECLARATION = b"<?xml version='1.0' encoding='utf-8'?>\n"
# feedparser's markers: a BOM, or "<?xm" in an encoding that is not ASCII-compatible.
_SNIFFED = (
    (codecs.BOM_UTF32_BE, "utf-32be", 4),
    (codecs.BOM_UTF32_LE, "utf-32le", 4),
    (codecs.BOM_UTF16_BE, "utf-16be", 2),
    (codecs.BOM_UTF16_LE, "utf-16le", 2),
    (codecs.BOM_UTF8, "utf-8", 3),
    (b"\x4c\x6f\xa7\x94", "cp037", 0),
    (b"\x00\x3c\x00\x3f", "utf-16be", 0),
    (b"\x3c\x00\x3f\x00", "utf-16le", 0),
    (b"\x00\x00\x00\x3c", "utf-32be", 0),
    (b"\x3c\x00\x00\x00", "utf-32le", 0),
)
_UNICODE_NAMES = frozenset(
    "u16 utf-16 utf16 utf_16 u32 utf-32 utf32 utf_32 iso-10646-ucs-2 iso-10646-ucs-4 "  # noqa: SIM905
    "csucs4 csunicode ucs-2 ucs-4".split()
)
# Codecs that are not document encodings are skipped like unknown ones (punycode: quadratic).
_NOT_DOCUMENT_CODECS = frozenset({"punycode", "idna", "unicode-escape", "raw-unicode-escape"})
# The declaration's own encoding pseudo-attribute only, read from a bounded prefix.
_XML_ENCODING = re.compile(r"""<\?xml[^>]{0,512}?\bencoding\s*=\s*["']([^"'>]{1,64})["']""")
_XML_DECLARATION = re.compile(rb"<\?xml[^>]*?>")  # what feedparser replaces with its own

_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 13))
# Regions whose text no parser reads as markup. Unterminated ones run to the end, which keeps
# every scan linear (a lazy ".*?" retried at each of a million "<!--" would be quadratic).
_COMMENT = rb"<!--.*?(?:-->|\Z)"
_CDATA = rb"<!\[CDATA\[.*?(?:\]\]>|\Z)"
_DECLARATION_MARKUP = re.compile(rb"<!(?:ENTITY|DOCTYPE)", re.IGNORECASE)
_DECLARATIONS = re.compile(
    rb"%s|%s|<\?.*?(?:\?>|\Z)|<!(ENTITY|DOCTYPE)" % (_COMMENT, _CDATA), re.DOTALL | re.IGNORECASE
)
_INTERNAL_SUBSET = re.compile(rb"""<!DOCTYPE(?:[^\[>"']|"[^"]*"|'[^']*')*\[""", re.IGNORECASE)
_FIRST_ELEMENT = re.compile(rb"<\w")  # where feedparser's prolog ("head") ends

_NEEDS_REWRITE = re.compile(rb"&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);)")
_REFERENCE = re.compile(
    rb"(%s|%s|<\?.*?(?:\?>|\Z))|&(?!(?:amp|lt|gt|quot|apos|#[0-9]+|#[xX][0-9a-fA-F]+);)"
    rb"([A-Za-z][A-Za-z0-9]{0,31};?)?" % (_COMMENT, _CDATA),
    re.DOTALL,
)


def safe_feed_bytes(body: bytes) -> bytes:
    """The feed as UTF-8 that feedparser reads exactly as checked; refuses unsafe documents."""
    # Control characters go first: "<!\x01ENTITY" must not become a declaration after the checks.
    data = _to_utf8(body).translate(None, _CONTROL_BYTES)
    _refuse_declarations(data)
    data = _resolve_html_entities(data)
    _refuse_unbounded_elements(data)  # after the entities: expat must not stop at "&nbsp;"
    return data


def _refused(reason: str) -> PermanentSourceError:
    return PermanentSourceError(f"rss payload could not be parsed: {reason}; refused")


def _to_utf8(body: bytes) -> bytes:
    bom_encoding, data = "", body
    for marker, encoding, skip in _SNIFFED:
        if body.startswith(marker):
            bom_encoding, data = encoding, body[skip:]
            break
    # A byte order mark says what the bytes are; a declaration that disagrees is wrong. The
    # "<?xm" markers only say how wide the characters are: there the declaration decides.
    declared = bom_encoding if data is not body else _declared_encoding(data, bom_encoding)
    for encoding in dict.fromkeys((declared or "utf-8", declared, bom_encoding, "utf-8", "windows-1252")):
        text = _decoded(data, encoding)
        if text is not None:
            break
    else:
        encoding, text = "iso-8859-2", data.decode("iso-8859-2")  # any bytes: feedparser's last resort too
    if codecs.lookup(encoding).name == "utf-8":
        utf8 = data  # the decode proved it UTF-8 (which holds no surrogate): encoding again copies it
    else:
        try:
            utf8 = text.encode("utf-8")
        except UnicodeEncodeError as exc:  # UTF-7 can spell lone surrogates
            raise _refused(f"the feed's text is not Unicode ({exc.reason})") from exc
    del text
    if utf8[:1].isspace():  # whitespace before "<?xml" would make expat refuse the declaration
        utf8 = utf8.lstrip()
    declaration = _XML_DECLARATION.match(utf8)
    start = declaration.end() if declaration else 0
    start += utf8[start : start + 1] == b"\n"
    return b"".join((_DECLARATION, memoryview(utf8)[start:]))  # one copy, not a slice and then a sum


def _declared_encoding(data: bytes, bom_encoding: str) -> str:
    head = data[:2048].decode(bom_encoding or "latin-1", "ignore").lstrip()
    match = _XML_ENCODING.match(head)
    if match is None:
        return ""
    declared = match.group(1).strip().lower()
    if bom_encoding and declared in _UNICODE_NAMES:
        return bom_encoding  # "utf-16" alone would let the BOM pick the byte order again
    return "gb18030" if declared == "gb2312" else declared


def _decoded(data: bytes, encoding: str) -> str | None:
    if not encoding:
        return None
    try:
        if codecs.lookup(encoding).name in _NOT_DOCUMENT_CODECS:
            return None
        return data.decode(encoding)
    except (UnicodeError, LookupError):
        return None


def _refuse_declarations(data: bytes) -> None:
    if not _DECLARATION_MARKUP.search(data):
        return
    first_element = _FIRST_ELEMENT.search(data)
    head = data[: first_element.start() + 1] if first_element else b""
    if re.search(rb"<!ENTITY", head, re.IGNORECASE):
        raise _refused("the feed declares XML entities, which could expand without bound")
    for match in _DECLARATIONS.finditer(data):
        kind = match.group(1)
        if kind is None:
            continue
        if kind.upper() == b"ENTITY":
            raise _refused("the feed declares XML entities, which could expand without bound")
        if _INTERNAL_SUBSET.match(data, match.start()):
            raise _refused("the feed's DOCTYPE has an internal subset (declarations)")


def start_tags(data: bytes) -> int:
    """How many start tags the document has, at most (counted without a copy of it)."""
    # Every "<" that is not "</", "<!" or "<?".
    return data.count(b"<") - data.count(b"</") - data.count(b"<!") - data.count(b"<?")


def _refuse_unbounded_elements(data: bytes) -> None:
    """Refuse a document whose elements could hold more memory or time than a collection has.

    Up to ``LENIENT_ELEMENTS`` start tags, nothing can: even all nested, and read by the lenient
    parser that feedparser falls back to for a malformed feed, they hold ~40 MB. A bigger
    document must be well-formed (checked by expat, the parser feedparser uses), nest at most
    ``MAX_DEPTH`` deep and hold at most ``MAX_ELEMENTS`` elements.
    """
    # Every start tag is a "<": one count of them (the fast one) settles most documents.
    if data.count(b"<") <= LENIENT_ELEMENTS or start_tags(data) <= LENIENT_ELEMENTS:
        return
    depth = elements = 0

    def start(name: str, attributes: object) -> None:
        nonlocal depth, elements
        depth, elements = depth + 1, elements + 1
        # Raised from the handler, so expat stops before it holds a deeper stack.
        if depth > MAX_DEPTH:
            raise _refused(f"elements nested deeper than {MAX_DEPTH}")
        if elements > MAX_ELEMENTS:
            raise _refused(f"the feed has more than {MAX_ELEMENTS} elements")

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1

    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")  # as feedparser's SAX reader
    parser.ordered_attributes = True
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise _refused(
            f"malformed XML ({exc}) in a feed of more than {LENIENT_ELEMENTS} elements, "
            "too large for the lenient parser"
        ) from exc


def _resolve_html_entities(data: bytes) -> bytes:
    # Undeclared HTML entities as a browser reads them, so that a feed feedparser's strict parser
    # accepts never reaches its lenient fallback parser.
    if not _NEEDS_REWRITE.search(data):
        return data
    # Built piece by piece: re.sub would hold every piece of a million references at once.
    out = bytearray()
    view, done = memoryview(data), 0
    for match in _REFERENCE.finditer(data):
        replacement = _replacement(match)
        if replacement is not None:
            out += view[done : match.start()]
            out += replacement
            done = match.end()
    out += view[done:]
    return bytes(out)


def _replacement(match: re.Match[bytes]) -> bytes | None:
    """What replaces a reference, or ``None`` to keep it (CDATA, comments and XML's own)."""
    opaque, reference = match.group(1), match.group(2)
    if opaque is not None:
        return None  # CDATA keeps its text; html_to_text decodes it later
    if reference is None:
        return b"&amp;"  # a bare "&"
    name = reference.decode("ascii")
    value = html5.get(name) if name.endswith(";") else None
    # Legacy names without a semicolon ("&copy 2024") resolve, but not before "=": in a URL
    # ("?a=1&copy=2") a browser leaves them too.
    if value is None and not name.endswith(";") and match.string[match.end() : match.end() + 1] != b"=":
        value = html5.get(name)
    if value is None:
        return b"&amp;" + reference
    return _numeric(value)


@functools.cache
def _numeric(value: str) -> bytes:
    return b"".join(b"&#%d;" % ord(char) for char in value)
