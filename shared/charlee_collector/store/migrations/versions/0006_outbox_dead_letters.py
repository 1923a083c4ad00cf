"""The event outbox: refused events back off, and end dead-lettered after ``MAX_ATTEMPTS``.

``event_outbox.retry_at`` holds when a row EventBridge refused may be offered again (its backoff):
a tick's claim passes over it until then (an operator's ``events publish`` does not wait for it).
``event_outbox.dead_lettered_at`` is set when EventBridge refused an event ``MAX_ATTEMPTS`` times
(app/publishing.py): the row is no longer pending, no claim takes it again, and ``events list``
shows it. The pending index now leaves dead-lettered rows out as it leaves published ones out.

Existing rows keep every value: pending rows stay pending (NULL: due now, not dead-lettered),
whatever their attempts; a row refused again from now on backs off and ends by the new rule.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from charlee_collector.store.tables import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("event_outbox", sa.Column("retry_at", UTCDateTime()))
    op.add_column("event_outbox", sa.Column("dead_lettered_at", UTCDateTime()))
    op.drop_index("ix_event_outbox_pending", table_name="event_outbox")
    op.create_index(
        "ix_event_outbox_pending",
        "event_outbox",
        ["id"],
        postgresql_where=sa.text("published_at IS NULL AND dead_lettered_at IS NULL"),
    )
    op.create_index(
        "ix_event_outbox_dead_lettered",
        "event_outbox",
        ["dead_lettered_at"],
        postgresql_where=sa.text("dead_lettered_at IS NOT NULL"),
    )


def downgrade() -> None:
    # A dead-lettered row becomes a pending one again: 0005's publisher tries it on its next tick.
    op.drop_index("ix_event_outbox_dead_lettered", table_name="event_outbox")
    op.drop_index("ix_event_outbox_pending", table_name="event_outbox")
    op.drop_column("event_outbox", "dead_lettered_at")
    op.drop_column("event_outbox", "retry_at")
    op.create_index(
        "ix_event_outbox_pending", "event_outbox", ["id"], postgresql_where=sa.text("published_at IS NULL")
    )
