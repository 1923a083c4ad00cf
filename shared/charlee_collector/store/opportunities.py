"""The bulk upsert of opportunities: one statement per chunk, never a duplicate row.

Rows are written in ``external_id`` order after the platform's row lock (``platforms.lock_platform``),
so concurrent writers of one platform queue instead of deadlocking. ``prepare_items`` does the
Python work (hashes, JSON, the caller's annotations: score and duplicate keys) before the
transaction opens.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Connection,
    bindparam,
    text,
)

from charlee_collector.core.opportunity import HASHED_FIELDS, HASHED_WHEN_SET, Opportunity
from charlee_collector.store.platforms import lock_platform
from charlee_collector.store.tables import UTCDateTime

UPSERT_CHUNK = 1000


@dataclass(frozen=True)
class WrittenRow:
    """One row an upsert inserted (``new``) or rewrote, with the item it now holds."""

    id: int
    item: Opportunity
    new: bool
    score: int | None = None  # against the owner's profile (app/scoring.py)


@dataclass(frozen=True)
class UpsertCounts:
    """What one bulk upsert did."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    # The rows written, in statement order, for the OpportunitiesCollected event (app/collected_event.py):
    # the items are what the rows hold, so the event needs no reading back.
    written: tuple[WrittenRow, ...] = field(default=(), compare=False, repr=False)

    @property
    def inserted_ids(self) -> tuple[int, ...]:
        return tuple(row.id for row in self.written if row.new)

    @property
    def updated_ids(self) -> tuple[int, ...]:
        return tuple(row.id for row in self.written if not row.new)


# The columns an upsert writes from the item; the rest (ids, clock, status) come from the call.
_ITEM_COLUMNS = ("external_id", *HASHED_FIELDS, *HASHED_WHEN_SET, "content_hash", "raw")


# Columns the caller works out from each item (``prepare_items``'s ``annotate``): the score
# against the owner's profile and the keys duplicates are found by. NULL when not given.
ANNOTATION_COLUMNS = ("score", "score_reasons", "canonical_url", "title_key", "company_key")
Annotate = Callable[[Opportunity], Mapping[str, Any]]
_WRITTEN_COLUMNS = (*_ITEM_COLUMNS, *ANNOTATION_COLUMNS)


_NO_ANNOTATIONS = dict.fromkeys(ANNOTATION_COLUMNS)


def _item_values(item: Opportunity, annotate: Annotate | None) -> dict[str, Any]:
    values = {name: getattr(item, name) for name in _ITEM_COLUMNS if name != "content_hash"}
    values["required_skills"] = list(item.required_skills)
    values["content_hash"] = item.content_hash  # a property: computed once here
    values.update(annotate(item) if annotate is not None else _NO_ANNOTATIONS)
    return values


@dataclass(frozen=True)
class PreparedItems:
    """Items made ready for ``upsert_opportunities`` before its transaction (Python work only):
    one per ``external_id`` (the last wins), their column values and content hashes in
    ``external_id`` order, in chunks, with each chunk's JSON text (the statement's one parameter)."""

    unique: dict[str, Opportunity]
    chunks: tuple[list[dict[str, Any]], ...]
    json_chunks: tuple[str, ...]
    scores: dict[str, int | None] = field(default_factory=dict)


def prepare_items(
    items: Iterable[Opportunity], *, chunk_size: int = UPSERT_CHUNK, annotate: Annotate | None = None
) -> PreparedItems:
    """``items`` as ``upsert_opportunities`` writes them (see ``PreparedItems``); ``annotate`` gives
    each item's ``ANNOTATION_COLUMNS`` (``app/scoring.py``)."""
    unique: dict[str, Opportunity] = {}
    for item in items:
        unique[item.external_id] = item
    # Rows in one order whatever order the platform served them in, so two writers of the same
    # rows (chunk by chunk, and row by row inside a chunk) never wait for each other in a cycle.
    rows = [_item_values(unique[external_id], annotate) for external_id in sorted(unique)]
    chunks = tuple(rows[start : start + chunk_size] for start in range(0, len(rows), chunk_size))
    scores = {row["external_id"]: row["score"] for row in rows}
    return PreparedItems(unique, chunks, tuple(_rows_json(chunk) for chunk in chunks), scores)


def upsert_opportunities(
    conn: Connection,
    *,
    platform_id: int,
    user_id: int,
    items: Iterable[Opportunity] | PreparedItems,
    now: datetime,
    chunk_size: int = UPSERT_CHUNK,
    platform_locked: bool = False,
) -> UpsertCounts:
    """Insert new opportunities and rewrite changed ones, in bulk; never a duplicate row.

    The platform's row is locked first (``lock_platform``; ``platform_locked`` says this
    transaction already took that lock) and the rows are written in ``external_id`` order. Items
    repeating an ``external_id`` within the input collapse to the last one (one statement cannot
    touch a row twice). ``unchanged`` counts items whose content hash matched the stored one.
    ``items`` may come prepared (``prepare_items``): the collector prepares them outside the
    transaction, in its turn at the CPU (``app/cpu_turns.py``).
    """
    prepared = items if isinstance(items, PreparedItems) else prepare_items(items, chunk_size=chunk_size)
    if not platform_locked:
        lock_platform(conn, platform_id)
    written: list[WrittenRow] = []
    for payload in prepared.json_chunks:
        chunk = _upsert_chunk(conn, payload, platform_id, user_id, now)
        written += (
            WrittenRow(row_id, prepared.unique[external_id], new, prepared.scores.get(external_id))
            for row_id, external_id, new in chunk
        )
    inserted = sum(1 for row in written if row.new)
    rows_count = sum(len(rows) for rows in prepared.chunks)
    return UpsertCounts(
        inserted=inserted,
        updated=len(written) - inserted,
        unchanged=rows_count - len(written),
        written=tuple(written),
    )


# The whole chunk travels as ONE json parameter (the ``_WRITTEN_COLUMNS`` of each row), unpacked by
# json_to_recordset in the database function ``upsert_opportunities_json`` (migration 0010, which
# says what a row changed rewrites; a test holds its columns to ``_WRITTEN_COLUMNS``):
# a multi-row VALUES of 19 placeholders per row spent most of its time in the driver rewriting
# parameter markers, and so did the ~2.2 KB statement the function's body was (pg8000 scans a
# statement's text in Python, ~0.3 us a character, on every call). Rows are inserted in
# external_id byte order (Python's sort order too); the rows written come back as one JSON text
# (decoded in C), not a row each (decoded by pg8000 in Python, column by column: ~10 us a row).
_UPSERT = text(
    "SELECT upsert_opportunities_json(CAST(:user_id AS bigint), CAST(:platform_id AS bigint), :now,"
    " CAST(:rows AS json))"
).bindparams(bindparam("now", type_=UTCDateTime))


def _json_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)  # numeric reads the string exactly: no float on the way
    raise TypeError(f"cannot encode {type(value).__name__} in an opportunity")


# (id, external_id, inserted) of each row a chunk's statement wrote.
_Written = list[tuple[int, str, bool]]


def _rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, default=_json_value, ensure_ascii=False)


def _upsert_chunk(conn: Connection, payload: str, platform_id: int, user_id: int, now: datetime) -> _Written:
    written = conn.execute(
        _UPSERT, {"user_id": user_id, "platform_id": platform_id, "now": now, "rows": payload}
    ).scalar_one()
    # xmax is 0 on a row version this statement created, so it tells inserts from updates exactly.
    return [(row_id, external_id, new) for row_id, external_id, new in json.loads(written or "[]")]


def stored_opportunity(row: Mapping[str, Any]) -> Opportunity:
    """The opportunity a stored row (a mapping of its columns) holds."""
    values = {name: row[name] for name in ("external_id", *HASHED_FIELDS, *HASHED_WHEN_SET, "raw")}
    values["required_skills"] = list(values["required_skills"] or ())
    return Opportunity(**values)
