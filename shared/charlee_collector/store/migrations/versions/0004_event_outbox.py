"""The event outbox: one row per OpportunitiesCollected event, written with the run it describes.

A collection that inserted or updated opportunities writes its event here in the transaction of
its upsert and run record, so an event exists exactly when its changes do. ``detail`` is the
JSON text PutEvents sends, byte for byte (bounded when it is written); ``published_at`` stays
NULL until EventBridge accepted the entry. ``claimed_until`` is a lease: a publisher (the
collector right after its commit, or a dispatcher tick) takes pending rows by moving it
forward, so two publishers never send one row at the same time, and a publisher that died
leaves its rows to the next tick once the lease ran out. Published rows are pruned after a
retention (``outbox.RETENTION``). No foreign keys: an event outlives the platform it names.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_ID = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "event_outbox",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("detail_type", sa.String(64), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("platform_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.BigInteger()),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_until", sa.DateTime(timezone=True)),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text()),
        sa.UniqueConstraint("event_id", name="uq_event_outbox_event_id"),
    )
    # The publishers' claim (pending, oldest first) and the oldest-pending-age metric read this
    # partial index only; the published rows it leaves out are most of the table.
    op.create_index(
        "ix_event_outbox_pending",
        "event_outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL"),
    )
    # Pruning reads published rows by age.
    op.create_index("ix_event_outbox_published", "event_outbox", ["published_at"])


def downgrade() -> None:
    op.drop_index("ix_event_outbox_published", table_name="event_outbox")
    op.drop_index("ix_event_outbox_pending", table_name="event_outbox")
    op.drop_table("event_outbox")
