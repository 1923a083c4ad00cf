"""One job shown once: link each newly stored opportunity to the one it repeats (``duplicate_of``).

Per user, in the collection's transaction, one statement for all the rows a collection inserted:
the database function ``link_duplicate_opportunities`` (migration 0008 holds it and its figures).
The first layer that finds an older row of the same user decides (``duplicate_reason``):

1. ``source_id``: the same source's own id (two platforms of one source serving one job);
2. ``url``: the same canonical URL (tracking parameters stripped), with titles in one trigram
   neighbourhood, so a careers page shared by many jobs links none of them;
3. ``title_company``: the same title and company keys, within 30 days;
4. ``description``: within 30 days, among the rows of the same title key or the same company key,
   a title at least 0.8 similar and a description at least 0.5 similar (pg_trgm, on the first
   1,000 characters): the same job, whatever the company is called. This is what catches an
   agency reposting under its own name, a misspelt company and one job behind several URLs, and
   what keeps apart the same company's other roles (their boilerplate is alike, their titles are
   not) and one role posted per city ("Engineer (Lisbon)", "Engineer (Porto)"). A description
   shorter than 200 characters says too little to tell two jobs apart and is not compared.

Each layer reads at most 10 rows per new row, newest first, from a (user_id, key, id) index: a
collection costs the same whatever the table's size.

A link always points at a canonical row (one that is no duplicate itself). Rows changed later keep
their link: it is decided once, on insert. The figures are measured in bench/dedup.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import Connection, text


class DuplicateLink(NamedTuple):
    """A new row found to repeat an older one: the canonical row, its platform and the layer."""

    id: int
    duplicate_of: int
    platform_name: str
    reason: str


# The layers are the database's function (migration 0008 says why): one short statement here.
_LINK = text(
    "SELECT CAST(json_agg(json_build_array(id, duplicate_of, platform_name, reason)) AS text)"
    " FROM link_duplicate_opportunities(CAST(:ids AS bigint[]))"
)


def link_duplicates(conn: Connection, ids: Sequence[int]) -> list[DuplicateLink]:
    """Link each of the new rows ``ids`` to the older row it repeats, if any (module docstring)."""
    if not ids:
        return []
    # One array literal, not a list: pg8000 converts a list element by element in Python (~0.3 ms
    # of collector CPU for 50 ids), PostgreSQL reads the literal in C.
    literal = "{" + ",".join(str(int(row_id)) for row_id in ids) + "}"
    payload = conn.execute(_LINK, {"ids": literal}).scalar_one()
    return [DuplicateLink._make(row) for row in json.loads(payload or "[]")]
