"""The right jobs first: a profile per user, a stored score with its parts, one job shown once.

``user_profiles`` holds one scoring profile per user (``normalize/profiles.py``) and the cursor of
its rescoring (``rescore_after_id``: NULL when none is pending; the user's rows above that id are
still to be scored, batch by batch, ``app/rescoring.py``). ``freelance_opportunities`` gains
``score`` (0-100) and ``score_reasons`` (its parts), the keys duplicates are found by
(``canonical_url``, ``title_key``, ``company_key``), ``duplicate_of`` (the canonical
opportunity of the same user this one repeats) and ``duplicate_reason`` (the layer that said so). ``pg_trgm`` gives the title neighbourhood and the
description similarity (``store/duplicates.py``).

Rows stored before this revision keep NULL in every new column: they are neither rewritten nor
linked here (a large table would be scanned in one statement). The first rescoring of their
owner's profile scores and keys the open ones (``status = 'new'``); ``duplicate_of`` is decided
when a row is inserted, so old rows are never linked to each other, and new rows find them once
they have keys.

Revision ID: 0010
Revises: 0005 (re-pointed to the newest revision when merged)
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from charlee_collector.core.limits import LIMITS
from charlee_collector.store.tables import UTCDateTime

revision = "0010"
down_revision = "0005"
branch_labels = None
depends_on = None

_TABLE = "freelance_opportunities"


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
    op.create_index("ix_freelance_opportunities_user_external", _TABLE, ["user_id", "external_id"])
    op.create_index("ix_freelance_opportunities_user_url", _TABLE, ["user_id", "canonical_url"])
    op.create_index(
        "ix_freelance_opportunities_user_company_title", _TABLE, ["user_id", "company_key", "title_key"]
    )
    op.create_index(
        "ix_freelance_opportunities_title_trgm",
        _TABLE,
        ["title_key"],
        postgresql_using="gin",
        postgresql_ops={"title_key": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_freelance_opportunities_duplicate_of",
        _TABLE,
        ["duplicate_of"],
        postgresql_where=sa.text("duplicate_of IS NOT NULL"),
    )


def downgrade() -> None:
    for index in (
        "ix_freelance_opportunities_duplicate_of",
        "ix_freelance_opportunities_title_trgm",
        "ix_freelance_opportunities_user_company_title",
        "ix_freelance_opportunities_user_url",
        "ix_freelance_opportunities_user_external",
    ):
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
