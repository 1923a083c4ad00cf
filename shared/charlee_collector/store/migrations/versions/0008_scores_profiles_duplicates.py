"""The right jobs first: a profile per user, a stored score with its parts, one job shown once.

``user_profiles`` holds one scoring profile per user (``normalize/profiles.py``) and the cursor of
its rescoring (``rescore_after_id``: NULL when none is pending; the user's rows above that id are
still to be scored, batch by batch, ``app/rescoring.py``). ``freelance_opportunities`` gains
``score`` (0-100) and ``score_reasons`` (its parts), the keys duplicates are found by
(``canonical_url``, ``title_key``, ``company_key``), ``duplicate_of`` (the canonical
opportunity of the same user this one repeats) and ``duplicate_reason`` (the layer that said so).
``link_duplicate_opportunities(ids)`` links new rows to the rows they repeat (the layers are in
``store/duplicates.py``); it is a function of the database because the driver spends ~1 ms of the
collector's CPU rewriting a statement this long on every call, and a call is a line. Changing a
rule is a migration that replaces it. ``pg_trgm`` gives the title and description
similarity (``store/duplicates.py``).

Rows stored before this revision keep NULL in every new column: they are neither rewritten nor
linked here (a large table would be scanned in one statement). The first rescoring of their
owner's profile scores and keys the open ones (``status = 'new'``); ``duplicate_of`` is decided
when a row is inserted, so old rows are never linked to each other, and new rows find them once
they have keys.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from charlee_collector.core.limits import LIMITS
from charlee_collector.store.tables import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TABLE = "freelance_opportunities"
_KEY_INDEXES = {
    "ix_freelance_opportunities_user_external": "external_id",
    "ix_freelance_opportunities_user_url": "canonical_url",
    "ix_freelance_opportunities_user_title": "title_key",
    "ix_freelance_opportunities_user_company": "company_key",
}

# The layers, in order; the first that finds an older row of the same user decides. Each looks
# at a bounded neighbourhood read newest first from a (user_id, key, id) index: at most
# NEIGHBOURS (10) rows per layer and new row, so a collection costs the same whatever the
# table's size. Within 30 days for titles and descriptions. A row linked to a row this same call
# links is pointed, along the chain, at the canonical row it ends at.
# 1. source_id: the same external_id on a platform of the same source.
# 2. url: the same canonical URL, titles in one trigram neighbourhood (``%``: pg_trgm's
#    similarity above 0.3), so a careers page behind many jobs links none of them.
# 3. title_company: the same title key and company key.
# 4. description: among the rows of the same title key or the same company key, a title at least
#    0.8 similar and a description at least 0.5 similar on the first 1,000 characters (from 200).
#    Each comparison reads both texts' trigrams: the neighbourhood and the length are its bound.
LINK_FUNCTION = """
CREATE FUNCTION link_duplicate_opportunities(ids bigint[])
RETURNS TABLE (id bigint, duplicate_of bigint, platform_name text, reason text)
LANGUAGE sql VOLATILE AS $$
    WITH RECURSIVE new AS (
      SELECT o.id, o.user_id, o.external_id, o.canonical_url, o.title_key, o.company_key,
             o.collected_at - make_interval(days => 30) AS since,
             CASE WHEN length(o.description) >= 200
                  THEN left(o.description, 1000) END AS description,
             p.source
      FROM freelance_opportunities o JOIN freelance_platforms p ON p.id = o.platform_id
      WHERE o.id = ANY(ids)
    ),
    linked AS (
      SELECT n.id, m.canonical, m.reason
      FROM new n
      CROSS JOIN LATERAL (
        SELECT canonical, reason FROM (
          (SELECT COALESCE(c.duplicate_of, c.id) AS canonical, 'source_id' AS reason, 1 AS layer
           FROM (SELECT c.id, c.duplicate_of, c.platform_id FROM freelance_opportunities c
                 WHERE c.user_id = n.user_id AND c.external_id = n.external_id AND c.id < n.id
                 ORDER BY c.id DESC LIMIT 10) c
           JOIN freelance_platforms cp ON cp.id = c.platform_id
           WHERE cp.source = n.source
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'url', 2
           FROM (SELECT c.id, c.duplicate_of, c.title_key FROM freelance_opportunities c
                 WHERE n.canonical_url IS NOT NULL AND c.user_id = n.user_id
                   AND c.canonical_url = n.canonical_url AND c.id < n.id
                 ORDER BY c.id DESC LIMIT 10) c
           WHERE c.title_key % n.title_key
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'title_company', 3
           FROM (SELECT c.id, c.duplicate_of, c.company_key, c.collected_at FROM freelance_opportunities c
                 WHERE n.title_key IS NOT NULL AND c.user_id = n.user_id
                   AND c.title_key = n.title_key AND c.id < n.id
                 ORDER BY c.id DESC LIMIT 10) c
           WHERE c.company_key = n.company_key AND c.collected_at >= n.since
           ORDER BY c.id LIMIT 1)
          UNION ALL
          (SELECT COALESCE(c.duplicate_of, c.id), 'description', 4
           FROM (
             (SELECT c.id, c.duplicate_of, c.title_key, c.description, c.collected_at
              FROM freelance_opportunities c
              WHERE n.description IS NOT NULL AND n.title_key IS NOT NULL AND c.user_id = n.user_id
                AND c.title_key = n.title_key AND c.id < n.id
              ORDER BY c.id DESC LIMIT 10)
             UNION
             (SELECT c.id, c.duplicate_of, c.title_key, c.description, c.collected_at
              FROM freelance_opportunities c
              WHERE n.description IS NOT NULL AND n.company_key IS NOT NULL AND c.user_id = n.user_id
                AND c.company_key = n.company_key AND c.id < n.id
              ORDER BY c.id DESC LIMIT 10)
           ) c
           WHERE c.collected_at >= n.since
             AND similarity(c.title_key, n.title_key) >= 0.8
             AND similarity(left(c.description, 1000), n.description) >= 0.5
           ORDER BY c.id LIMIT 1)
        ) layers
        ORDER BY layer LIMIT 1
      ) m
    ),
    walk (id, canonical, reason, hops) AS (
      -- A row linked to one this same call links (both new) follows that one's link, and so on:
      -- every link ends at a canonical row. At most one hop per new row.
      SELECT l.id, l.canonical, l.reason, 0 FROM linked l
      UNION ALL
      SELECT w.id, l.canonical, w.reason, w.hops + 1
      FROM walk w JOIN linked l ON l.id = w.canonical
      WHERE w.hops < cardinality(ids)
    ),
    resolved AS (
      SELECT DISTINCT ON (w.id) w.id, w.canonical, w.reason FROM walk w ORDER BY w.id, w.hops DESC
    ),
    written AS (
      UPDATE freelance_opportunities o SET duplicate_of = r.canonical, duplicate_reason = r.reason
      FROM resolved r WHERE o.id = r.id
      RETURNING o.id, r.canonical, r.reason
    )
    SELECT w.id, w.canonical, CAST(p.name AS text), w.reason
    FROM written w
    JOIN freelance_opportunities c ON c.id = w.canonical
    JOIN freelance_platforms p ON p.id = c.platform_id
$$
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "user_profiles",
        sa.Column("user_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("profile", JSONB(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("rescore_after_id", sa.BigInteger()),
    )
    op.add_column(_TABLE, sa.Column("score", sa.SmallInteger()))
    op.add_column(_TABLE, sa.Column("score_reasons", JSONB()))
    op.add_column(_TABLE, sa.Column("canonical_url", sa.String(LIMITS["url"])))
    op.add_column(_TABLE, sa.Column("title_key", sa.String(200)))
    op.add_column(_TABLE, sa.Column("company_key", sa.String(200)))
    op.add_column(
        _TABLE,
        sa.Column("duplicate_of", sa.BigInteger(), sa.ForeignKey(f"{_TABLE}.id", ondelete="SET NULL")),
    )
    op.add_column(_TABLE, sa.Column("duplicate_reason", sa.String(20)))
    op.create_check_constraint("ck_freelance_opportunities_score", _TABLE, "score BETWEEN 0 AND 100")
    # (user_id, key, id): each layer reads its neighbourhood newest first, LIMIT 10.
    for name, key in _KEY_INDEXES.items():
        op.create_index(name, _TABLE, ["user_id", key, "id"])
    op.execute(LINK_FUNCTION)
    op.create_index(
        "ix_freelance_opportunities_duplicate_of",
        _TABLE,
        ["duplicate_of"],
        postgresql_where=sa.text("duplicate_of IS NOT NULL"),
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION link_duplicate_opportunities(bigint[])")
    for index in ("ix_freelance_opportunities_duplicate_of", *_KEY_INDEXES):
        op.drop_index(index, table_name=_TABLE)
    op.drop_constraint("ck_freelance_opportunities_score", _TABLE)
    for column in (
        "duplicate_reason",
        "duplicate_of",
        "company_key",
        "title_key",
        "canonical_url",
        "score_reasons",
        "score",
    ):
        op.drop_column(_TABLE, column)
    op.drop_table("user_profiles")
    # pg_trgm stays: another schema on the server may use it, and leaving it costs nothing.
