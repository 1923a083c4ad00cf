"""Platforms to and from files: OPML (a feed reader's subscriptions) and CSV; no database here.

``read_platform_file(data)`` -> ``Rows``: each row a ``PlatformRow`` (where it is, name, source,
config and the optional settings) or a ``BadRow`` (where, and why). OPML is recognised by its first
character (``<``): every ``outline`` with an ``xmlUrl`` becomes an ``rss`` platform named by its
``title``/``text``; folders are walked, their names dropped. CSV has a header row: ``source`` and
``name`` are required; ``config`` holds a JSON object; ``interval``, ``auto_collect`` and
``credentials_secret`` are the platform's settings; every other column is one config key (a cell
starting with ``[`` or ``{`` is JSON, any other is text the source's schema converts; empty cells
are left out). ``to_opml`` and ``to_csv`` write what the reader reads back.
"""

from __future__ import annotations

import csv
import io
import json
import xml.parsers.expat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import quoteattr

# Far more than any reader's export; past it the file is not a subscription list.
MAX_FILE_BYTES = 5_000_000
SETTING_COLUMNS = ("interval", "auto_collect", "credentials_secret")
REQUIRED_COLUMNS = ("source", "name")
_TRUE = {"true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


@dataclass(frozen=True)
class PlatformRow:
    """One platform a file describes; ``where`` names it in messages (``line 4``)."""

    where: str
    name: str
    source: str
    config: dict[str, Any]
    interval: int | None = None
    auto_collect: bool | None = None
    credentials_secret: str | None = None


@dataclass(frozen=True)
class BadRow:
    """A row that cannot become a platform, and why."""

    where: str
    reason: str


@dataclass
class Rows:
    good: list[PlatformRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)


class UnreadableFile(ValueError):
    """The file as a whole is not OPML or CSV of platforms (no row can be named)."""


def read_platform_file(data: bytes) -> Rows:
    """The platforms in an OPML or CSV file (see the module docstring)."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFile(f"larger than {MAX_FILE_BYTES:,} bytes: not a list of platforms")
    try:
        content = data.decode("utf-8-sig")  # a BOM from a spreadsheet is not part of the header
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte {exc.start})") from None
    if content.lstrip().startswith("<"):
        return _read_opml(data)
    return _read_csv(content)


# --- OPML --------------------------------------------------------------------------------------


def _read_opml(data: bytes) -> Rows:
    rows = Rows()
    parser = xml.parsers.expat.ParserCreate()
    # Entity declarations are refused outright (the "billion laughs" and external entities): a
    # subscription list never needs one.
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse_entities(*_: Any) -> None:
        raise UnreadableFile("OPML file declares entities, which are refused")

    def start(tag: str, attributes: dict[str, str]) -> None:
        if tag != "outline" or "xmlUrl" not in attributes:
            return  # a folder (or the head): its children are read on their own
        where = f"line {parser.CurrentLineNumber}"
        url = attributes["xmlUrl"].strip()
        name = (attributes.get("title") or attributes.get("text") or url).strip()
        if not url:
            rows.bad.append(BadRow(where, f"outline {name!r} has an empty xmlUrl"))
            return
        rows.good.append(PlatformRow(where, name, "rss", {"url": url}))

    parser.EntityDeclHandler = refuse_entities
    parser.StartElementHandler = start
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UnreadableFile(f"not well-formed OPML: {exc}") from None
    return rows


def to_opml(platforms: Iterable[Mapping[str, Any]], title: str = "Charlee Collector feeds") -> str:
    """An OPML 2.0 document with one ``outline`` per platform (its ``name`` and ``config.url``)."""
    outlines = "".join(
        f'    <outline type="rss" text={quoteattr(p["name"])} title={quoteattr(p["name"])} '
        f"xmlUrl={quoteattr(p['config']['url'])}/>\n"
        for p in platforms
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n'
        f"  <head><title>{_escape(title)}</title></head>\n  <body>\n{outlines}  </body>\n</opml>\n"
    )


def _escape(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- CSV ---------------------------------------------------------------------------------------


def _read_csv(content: str) -> Rows:
    reader = csv.reader(io.StringIO(content, newline=""))
    try:
        header = [column.strip() for column in next(reader)]
    except StopIteration:
        raise UnreadableFile("the file is empty") from None
    except csv.Error as exc:
        raise UnreadableFile(f"line 1 is not CSV: {exc}") from None
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        raise UnreadableFile(
            f"the CSV header lacks {', '.join(missing)}: its first line names the columns "
            "(source,name and then config or one column per config key)"
        )
    repeated = sorted({column for column in header if header.count(column) > 1})
    if repeated or "" in header:
        raise UnreadableFile(
            f"the CSV header has {'repeated' if repeated else 'empty'} column names {repeated}"
        )
    rows = Rows()
    try:
        for cells in reader:
            where = f"line {reader.line_num}"
            if not any(cell.strip() for cell in cells):
                continue  # a blank line between blocks is not a row
            try:
                rows.good.append(_csv_row(where, header, cells))
            except ValueError as exc:
                rows.bad.append(BadRow(where, str(exc)))
    except csv.Error as exc:
        raise UnreadableFile(f"line {reader.line_num} is not CSV: {exc}") from None
    return rows


def _csv_row(where: str, header: list[str], cells: list[str]) -> PlatformRow:
    if len(cells) > len(header):
        raise ValueError(f"{len(cells)} cells for {len(header)} columns (a comma in a value needs quotes)")
    values = {column: cell.strip() for column, cell in zip(header, cells, strict=False) if cell.strip()}
    for column in REQUIRED_COLUMNS:
        if column not in values:
            raise ValueError(f"no {column}")
    config = _json_object(values.pop("config")) if "config" in values else {}
    for column in [c for c in values if c not in (*REQUIRED_COLUMNS, *SETTING_COLUMNS)]:
        if column in config:
            raise ValueError(f"config key {column!r} is given twice: in the config column and its own")
        config[column] = _cell(column, values[column])
    return PlatformRow(
        where,
        values["name"],
        values["source"],
        config,
        interval=_integer(values["interval"]) if "interval" in values else None,
        auto_collect=_boolean(values["auto_collect"]) if "auto_collect" in values else None,
        credentials_secret=values.get("credentials_secret"),
    )


def _json_object(cell: str) -> dict[str, Any]:
    try:
        value = json.loads(cell)
    except ValueError as exc:
        raise ValueError(f"config is not valid JSON: {str(exc)[:120]}") from None
    if not isinstance(value, dict):
        raise ValueError(f"config must be a JSON object, got {type(value).__name__}")
    return value


def _cell(column: str, cell: str) -> Any:
    if cell[0] not in "[{":
        return cell
    try:
        return json.loads(cell)
    except ValueError as exc:
        raise ValueError(f"column {column!r} starts like JSON but is not: {str(exc)[:120]}") from None


def _integer(cell: str) -> int:
    try:
        return int(cell)
    except ValueError:
        raise ValueError(f"interval {cell[:40]!r} is not a whole number of minutes") from None


def _boolean(cell: str) -> bool:
    if cell.lower() in _TRUE:
        return True
    if cell.lower() in _FALSE:
        return False
    raise ValueError(f"auto_collect {cell[:40]!r} is not true or false")


def to_csv(platforms: Iterable[Mapping[str, Any]]) -> str:
    """The platforms as CSV with the columns ``read_platform_file`` reads (config as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*REQUIRED_COLUMNS, "config", *SETTING_COLUMNS])
    for p in platforms:
        writer.writerow(
            [
                p["source"],
                p["name"],
                json.dumps(p["config"], ensure_ascii=False, separators=(",", ":")),
                p["collection_interval_minutes"],
                "true" if p["auto_collect"] else "false",
                p["credentials_secret"] or "",
            ]
        )
    return buffer.getvalue()
