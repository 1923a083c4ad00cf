"""One job shown once: link each newly stored opportunity to the one it repeats (``duplicate_of``).

Per user, in the collection's transaction, one statement for all the rows a collection inserted.
The first layer that finds an older row of the same user decides (``duplicate_reason``):

1. ``source_id``: the same source's own id (two platforms of one source serving one job);
2. ``url``: the same canonical URL (tracking parameters stripped), with titles in one trigram
   neighbourhood, so a careers page shared by many jobs links none of them;
3. ``title_company``: the same title and company keys, within ``WINDOW_DAYS``;
4. ``description``: within ``WINDOW_DAYS``, among the ``NEIGHBOURS`` newest rows of the same
   company or a trigram-similar title, a description (its first ``DESCRIPTION_CHARS``) at least
   ``DESCRIPTION_SIMILARITY`` similar (pg_trgm), and a title at least ``TITLE_SIMILARITY``
   similar or the same company. This is what catches an agency reposting under its own name and
   one job behind several URLs. A description shorter than ``MIN_DESCRIPTION_CHARS`` says too
   little to tell two jobs apart and is not compared.

A link always points at a canonical row (one that is no duplicate itself). Rows changed later keep
their link: it is decided once, on insert. The figures are measured in bench/dedup.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

WINDOW_DAYS = 30
NEIGHBOURS = 50
DESCRIPTION_CHARS = 2000
MIN_DESCRIPTION_CHARS = 200
DESCRIPTION_SIMILARITY = 0.5
TITLE_SIMILARITY = 0.5


@dataclass(frozen=True)
class DuplicateLink:
    """A new row found to repeat an older one: the canonical row, its platform and the layer."""

    id: int
    duplicate_of: int
    platform_name: str
    reason: str


# ``%%`` is pg_trgm's similarity operator ``%`` (true above pg_trgm.similarity_threshold, 0.3 by
# default; served by the title's GIN index), doubled for the driver's format paramstyle.
_LINK = text(
    f"""
    WITH new AS (
      SELECT o.id, o.user_id, o.external_id, o.canonical_url, o.title_key, o.company_key,
             o.collected_at - make_interval(days => {WINDOW_DAYS}) AS since,
             CASE WHEN length(o.description) >= {MIN_DESCRIPTION_CHARS}
                  THEN left(o.description, {DESCRIPTION_CHARS}) END AS description,
             p.source
      FROM freelance_opportunities o JOIN freelance_platforms p ON p.id = o.platform_id
      WHERE o.id = ANY(CAST(:ids AS bigint[]))
    ),
    linked AS (
      SELECT n.id, m.canonical, m.reason
      FROM new n
      CROSS JOIN LATERAL (
        SELECT canonical, reason FROM (
          (SELECT COALESCE(c.duplicate_of, c.id) AS canonical, 'source_id' AS reason, 1 AS layer
           FROM freelance_opportunities c JOIN freelance_platforms cp ON cp.id = c.platform_id
           WHERE c.user_id = n.user_id AND c.external_id = n.external_id AND c.id < n.id
             AND cp.source = n.source
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'url', 2
           FROM freelance_opportunities c
           WHERE n.canonical_url IS NOT NULL AND c.user_id = n.user_id
             AND c.canonical_url = n.canonical_url AND c.id < n.id AND c.title_key %% n.title_key
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'title_company', 3
           FROM freelance_opportunities c
           WHERE n.company_key IS NOT NULL AND c.user_id = n.user_id AND c.company_key = n.company_key
             AND c.title_key = n.title_key AND c.id < n.id AND c.collected_at >= n.since
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'description', 4
           FROM (
             SELECT c.id, c.duplicate_of, c.title_key, c.company_key, c.description
             FROM freelance_opportunities c
             WHERE n.description IS NOT NULL AND c.user_id = n.user_id AND c.id < n.id
               AND c.collected_at >= n.since
               AND (c.company_key = n.company_key OR c.title_key %% n.title_key)
             ORDER BY c.id DESC LIMIT {NEIGHBOURS}
           ) c
           WHERE similarity(left(c.description, {DESCRIPTION_CHARS}), n.description) >= {DESCRIPTION_SIMILARITY}
             AND (c.company_key = n.company_key OR similarity(c.title_key, n.title_key) >= {TITLE_SIMILARITY})
           ORDER BY c.id LIMIT 1)
        ) layers
        ORDER BY layer LIMIT 1
      ) m
    ),
    written AS (
      UPDATE freelance_opportunities o SET duplicate_of = l.canonical, duplicate_reason = l.reason
      FROM linked l WHERE o.id = l.id
      RETURNING o.id, l.canonical, l.reason
    )
    SELECT CAST(json_agg(json_build_array(w.id, w.canonical, p.name, w.reason)) AS text)
    FROM written w
    JOIN freelance_opportunities c ON c.id = w.canonical
    JOIN freelance_platforms p ON p.id = c.platform_id
    """
)

# A row linked to one that this same statement linked in turn (both new in one collection) is
# pointed past it, so every link ends at a canonical row.
_FLATTEN = text(
    """
    UPDATE freelance_opportunities o SET duplicate_of = c.duplicate_of
    FROM freelance_opportunities c
    WHERE o.id = ANY(CAST(:ids AS bigint[])) AND c.id = o.duplicate_of AND c.duplicate_of IS NOT NULL
    RETURNING o.id, o.duplicate_of
    """
)


def link_duplicates(conn: Connection, ids: Sequence[int]) -> list[DuplicateLink]:
    """Link each of the new rows ``ids`` to the older row it repeats, if any (module docstring)."""
    if not ids:
        return []
    payload = conn.execute(_LINK, {"ids": list(ids)}).scalar_one()
    links = [DuplicateLink(*row) for row in json.loads(payload or "[]")]
    linked = {link.id for link in links}
    chained = [link.id for link in links if link.duplicate_of in linked]
    if not chained:
        return links
    moved: dict[int, int] = {row_id: target for row_id, target in conn.execute(_FLATTEN, {"ids": chained})}
    by_id = {link.id: link for link in links}
    return [
        DuplicateLink(
            link.id,
            moved[link.id],
            by_id[link.duplicate_of].platform_name,
            link.reason,
        )
        if link.id in moved
        else link
        for link in links
    ]
