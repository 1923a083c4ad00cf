"""Alert rules and their deliveries: which opportunities tell a user, how soon, where, and what
was sent.

``alert_rules`` holds each user's rules (``normalize/alert_rules.py``): the validated document in
``rule``, with ``channel``, ``secret`` (the name of the Secrets Manager secret holding the channel's
webhook URL, token or address, never the credential) and ``mode`` copied out as columns, and the
channel's health (``failing_since``, ``last_error``; ``disabled_at`` after 24 hours of failures),
and for a digest the time its last one went out (``digest_sent_at``).
``alert_deliveries`` has one row per (rule, opportunity, channel) ever claimed for sending: its
primary key is what makes a job reach a person at most once (``store/alert_deliveries.py``), and
its times (``posted_at``, ``collected_at``, ``notified_at``) are the alert's freshness. No
existing row changes; the downgrade drops both tables.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from charlee_collector.store.tables import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.BigInteger(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("secret", sa.String(512), nullable=False),
        sa.Column("mode", sa.String(10), nullable=False),
        sa.Column("rule", JSONB(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("failing_since", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("disabled_at", UTCDateTime()),
        sa.Column("digest_sent_at", UTCDateTime()),
        sa.CheckConstraint("mode IN ('instant', 'digest')", name="ck_alert_rules_mode"),
    )
    op.create_index("ix_alert_rules_user", "alert_rules", ["user_id", "id"])
    op.create_table(
        "alert_deliveries",
        sa.Column(
            "rule_id", sa.BigInteger(), sa.ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "opportunity_id",
            sa.BigInteger(),
            sa.ForeignKey("freelance_opportunities.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("channel", sa.String(20), primary_key=True),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=False),
        sa.Column("lease_until", UTCDateTime(), nullable=False),
        sa.Column("posted_at", UTCDateTime()),
        sa.Column("collected_at", UTCDateTime(), nullable=False),
        sa.Column("notified_at", UTCDateTime()),
        sa.CheckConstraint("state IN ('claimed', 'sent')", name="ck_alert_deliveries_state"),
    )
    op.create_index(
        "ix_alert_deliveries_notified",
        "alert_deliveries",
        ["notified_at"],
        postgresql_where=sa.text("notified_at IS NOT NULL"),
    )
    op.create_index("ix_alert_deliveries_opportunity", "alert_deliveries", ["opportunity_id"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alert_rules")
