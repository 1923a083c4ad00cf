"""The three tables of DESIGN section 2.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from charlee_collector.store.tables import JSONType, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

DUE = sa.text("active AND auto_collect AND paused_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "freelance_platforms",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("config", JSONType, nullable=False),
        sa.Column("credentials_secret", sa.String(512)),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("auto_collect", sa.Boolean, nullable=False, server_default=sa.text("true")),
        sa.Column("collection_interval_minutes", sa.Integer, nullable=False, server_default=sa.text("15")),
        sa.Column("last_collection_at", UTCDateTime),
        sa.Column("last_collection_count", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("total_projects_collected", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("next_collection_at", UTCDateTime),
        sa.Column("etag", sa.String(512)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("consecutive_failures", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at", UTCDateTime),
        sa.Column("paused_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("collection_interval_minutes > 0", name="ck_freelance_platforms_interval"),
    )
    op.create_index("ix_freelance_platforms_user_id", "freelance_platforms", ["user_id"])
    # The claim query orders by next_collection_at NULLS FIRST (never-collected first); the index
    # must share that order to serve it.
    op.create_index(
        "ix_freelance_platforms_due",
        "freelance_platforms",
        [sa.text("next_collection_at NULLS FIRST"), "id"],
        postgresql_where=DUE,
    )

    op.create_table(
        "freelance_opportunities",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger, nullable=False),
        sa.Column(
            "platform_id",
            sa.Integer,
            sa.ForeignKey("freelance_platforms.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("url", sa.String(2048)),
        sa.Column("client_name", sa.String(255)),
        sa.Column("client_country", sa.String(100)),
        sa.Column("required_skills", JSONType, nullable=False),
        sa.Column("category", sa.String(255)),
        sa.Column("client_budget", sa.Numeric(14, 2)),
        sa.Column("client_currency", sa.String(10)),
        sa.Column("contract_type", sa.String(20)),
        sa.Column("posted_at", UTCDateTime),
        sa.Column("collected_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("raw", JSONType),
        sa.Column("status", sa.String(20), nullable=False, server_default=sa.text("'new'")),
        sa.UniqueConstraint(
            "platform_id", "external_id", name="uq_freelance_opportunities_platform_external"
        ),
    )
    op.create_index("ix_freelance_opportunities_user_id", "freelance_opportunities", ["user_id"])
    op.create_index(
        "ix_freelance_opportunities_platform_posted", "freelance_opportunities", ["platform_id", "posted_at"]
    )

    op.create_table(
        "collection_runs",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column(
            "platform_id",
            sa.Integer,
            sa.ForeignKey("freelance_platforms.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("message_id", sa.String(128)),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("fetched", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("inserted", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("updated", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("duration_ms", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_collection_runs_platform_started", "collection_runs", ["platform_id", "started_at"])


def downgrade() -> None:
    op.drop_table("collection_runs")
    op.drop_table("freelance_opportunities")
    op.drop_table("freelance_platforms")
