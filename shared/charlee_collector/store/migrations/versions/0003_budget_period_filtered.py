"""Say what a budget's amount is per, and how many items a run's filters dropped.

``freelance_opportunities.budget_period`` is one of ``models.BUDGET_PERIODS`` (hour, day, week,
month, year, fixed) or NULL when the source does not say; rows collected before this revision
keep NULL (unknown) until their next collection rewrites them. ``collection_runs.filtered`` is
the count of fetched items the platform's filters dropped; older runs read 0.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("freelance_opportunities", sa.Column("budget_period", sa.String(10)))
    op.add_column(
        "collection_runs",
        sa.Column("filtered", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )


def downgrade() -> None:
    op.drop_column("collection_runs", "filtered")
    op.drop_column("freelance_opportunities", "budget_period")
