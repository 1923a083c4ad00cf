"""Bound collection_interval_minutes to 1..43,200 minutes (30 days).

An interval beyond what a date can hold failed with a raw driver error. Rows already out of range
are clamped into it and made due at once (their next collection may lie centuries ahead), then the
database refuses new ones with a CHECK constraint.

The bound is written here rather than imported from ``models``: a released revision must keep
meaning what it meant when it shipped.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

LOWEST, HIGHEST = 1, 43_200
CONSTRAINT = "ck_freelance_platforms_interval"
IN_RANGE = f"BETWEEN {LOWEST} AND {HIGHEST}"


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(
        sa.text(
            "UPDATE freelance_platforms SET next_collection_at = NULL, collection_interval_minutes = "
            f"CASE WHEN collection_interval_minutes < {LOWEST} THEN {LOWEST} ELSE {HIGHEST} END "
            f"WHERE collection_interval_minutes NOT {IN_RANGE}"
        )
    )
    # 0001's constraint of the same name only asked for more than zero.
    op.drop_constraint(CONSTRAINT, "freelance_platforms", type_="check")
    op.create_check_constraint(CONSTRAINT, "freelance_platforms", f"collection_interval_minutes {IN_RANGE}")


def downgrade() -> None:
    op.drop_constraint(CONSTRAINT, "freelance_platforms", type_="check")
    op.create_check_constraint(CONSTRAINT, "freelance_platforms", "collection_interval_minutes > 0")
