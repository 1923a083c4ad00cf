"""Politeness at scale: the shared fetch cache, per-host state and slots, and the run's source.

``fetch_cache`` holds one row per request key (``fetch_cache.request_key``): the response every
platform with that key shares within the freshness window, its validators (conditional GET per
key, no longer per platform), and the lease of the fetch in flight. ``fetch_hosts`` holds each
host's fleet-wide state (next allowed request, Retry-After hold) and the operator's overrides;
``fetch_host_leases`` one row per request in flight to a host. ``collection_runs.shared_fetch``
says whether a run's body came from the shared cache; older runs read NULL (unknown).

Nothing here reads or rewrites existing rows: platforms keep their own ``etag`` and
``last_modified``, which now mean "the version of the shared response this platform last
stored" (``politeness.py``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from charlee_collector.store.tables import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "fetch_cache",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(50), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("etag", sa.String(512)),
        sa.Column("last_modified", sa.String(100)),
        sa.Column("content_type", sa.String(255)),
        sa.Column("final_url", sa.String(2048)),
        sa.Column("body", sa.LargeBinary()),
        sa.Column("body_bytes", sa.Integer()),
        sa.Column("fetched_at", UTCDateTime()),
        sa.Column("expires_at", UTCDateTime()),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", UTCDateTime()),
        sa.Column("error_kind", sa.String(20)),
        sa.Column("error", sa.Text()),
        sa.Column("error_status", sa.Integer()),
        sa.Column("failed_at", UTCDateTime()),
    )
    op.create_index("ix_fetch_cache_expires", "fetch_cache", ["expires_at"])
    op.create_table(
        "fetch_hosts",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("next_request_at", UTCDateTime()),
        sa.Column("retry_after_until", UTCDateTime()),
        sa.Column("max_concurrent", sa.Integer()),
        sa.Column("min_spacing_ms", sa.Integer()),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("max_concurrent IS NULL OR max_concurrent >= 1", name="ck_fetch_hosts_concurrent"),
        sa.CheckConstraint("min_spacing_ms IS NULL OR min_spacing_ms >= 0", name="ck_fetch_hosts_spacing"),
    )
    op.create_table(
        "fetch_host_leases",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_fetch_host_leases_host", "fetch_host_leases", ["host", "expires_at"])
    op.add_column("collection_runs", sa.Column("shared_fetch", sa.Boolean()))


def downgrade() -> None:
    op.drop_column("collection_runs", "shared_fetch")
    op.drop_table("fetch_host_leases")
    op.drop_table("fetch_hosts")
    op.drop_index("ix_fetch_cache_expires", table_name="fetch_cache")
    op.drop_table("fetch_cache")
