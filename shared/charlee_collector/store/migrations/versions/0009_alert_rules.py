"""Alert rules: which opportunities tell a user, how soon, and on which channel.

``alert_rules`` holds each user's rules (``normalize/alert_rules.py``): the validated document in
``rule``, with ``channel``, ``secret`` (the name of the Secrets Manager secret holding the channel's
webhook URL, token or address, never the credential) and ``mode`` copied out as columns. No
existing row changes; the downgrade drops the table and the rules in it.

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
        sa.CheckConstraint("mode IN ('instant', 'digest')", name="ck_alert_rules_mode"),
    )
    op.create_index("ix_alert_rules_user", "alert_rules", ["user_id", "id"])


def downgrade() -> None:
    op.drop_table("alert_rules")
