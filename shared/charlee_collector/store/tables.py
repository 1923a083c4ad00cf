"""The schema as SQLAlchemy Core tables: platforms, opportunities, user profiles, runs, the event
outbox, the shared fetch cache and the host limits.

Names are kept from the system this replaces. ``user_id`` is an owner key, not a foreign key:
the users table belongs to the application that reads these results. The schema itself is the
Alembic migrations'; a test holds these tables equal to them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from charlee_collector.core.clock import utcnow
from charlee_collector.core.limits import LIMITS, MAX_INTERVAL_MINUTES, MIN_INTERVAL_MINUTES

JSONType = JSONB()


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python; a naive one is refused on the way in."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData()


_BIG_ID = BigInteger()


# One watched source of one user. The partial index ix_freelance_platforms_due that serves the
# dispatcher's claim query is created by migration 0001.
platforms = Table(
    "freelance_platforms",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("user_id", BigInteger, nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("source", String(50), nullable=False),
    Column("config", JSONType, nullable=False, default=dict),
    Column("credentials_secret", String(512)),
    Column("active", Boolean, nullable=False, default=True, server_default=text("true")),
    Column("auto_collect", Boolean, nullable=False, default=True, server_default=text("true")),
    Column("collection_interval_minutes", Integer, nullable=False, default=15, server_default=text("15")),
    Column("last_collection_at", UTCDateTime),
    Column("last_collection_count", Integer, nullable=False, default=0, server_default=text("0")),
    Column("total_projects_collected", Integer, nullable=False, default=0, server_default=text("0")),
    Column("next_collection_at", UTCDateTime),
    Column("etag", String(512)),
    Column("last_modified", String(100)),
    Column("consecutive_failures", Integer, nullable=False, default=0, server_default=text("0")),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime),
    Column("paused_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
    CheckConstraint(
        f"collection_interval_minutes BETWEEN {MIN_INTERVAL_MINUTES} AND {MAX_INTERVAL_MINUTES}",
        name="ck_freelance_platforms_interval",
    ),
)


# What was collected.
opportunities = Table(
    "freelance_opportunities",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("user_id", BigInteger, nullable=False, index=True),
    Column("platform_id", ForeignKey("freelance_platforms.id", ondelete="CASCADE"), nullable=False),
    Column("external_id", String(LIMITS["external_id"]), nullable=False),
    Column("title", String(LIMITS["title"]), nullable=False),
    Column("description", Text),
    Column("url", String(LIMITS["url"])),
    Column("client_name", String(LIMITS["client_name"])),
    Column("client_country", String(LIMITS["client_country"])),
    Column("required_skills", JSONType, nullable=False, default=list),
    Column("category", String(LIMITS["category"])),
    Column("client_budget", Numeric(14, 2)),
    Column("client_currency", String(LIMITS["client_currency"])),
    Column("contract_type", String(LIMITS["contract_type"])),
    Column("budget_period", String(10)),
    Column("posted_at", UTCDateTime),
    Column("collected_at", UTCDateTime, nullable=False, default=utcnow),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("content_hash", String(64), nullable=False),
    Column("raw", JSONType),
    Column("status", String(20), nullable=False, default="new", server_default=text("'new'")),
    # Migration 0008: the score against the owner's profile (NULL: no profile, or stored before
    # 0008), its parts (normalize/scoring.py), the keys duplicates are found by
    # (normalize/duplicate_keys.py) and the canonical row this one repeats (store/duplicates.py).
    Column("score", SmallInteger),
    Column("score_reasons", JSONType),
    Column("canonical_url", String(LIMITS["url"])),
    Column("title_key", String(200)),
    Column("company_key", String(200)),
    Column("duplicate_of", BigInteger, ForeignKey("freelance_opportunities.id", ondelete="SET NULL")),
    Column("duplicate_reason", String(20)),  # source_id | url | title_company | description
    UniqueConstraint("platform_id", "external_id", name="uq_freelance_opportunities_platform_external"),
    CheckConstraint("score BETWEEN 0 AND 100", name="ck_freelance_opportunities_score"),
    Index("ix_freelance_opportunities_platform_posted", "platform_id", "posted_at"),
    # Each duplicate layer's neighbourhood, newest first (store/duplicates.py).
    Index("ix_freelance_opportunities_user_external", "user_id", "external_id", "id"),
    Index("ix_freelance_opportunities_user_url", "user_id", "canonical_url", "id"),
    Index("ix_freelance_opportunities_user_title", "user_id", "title_key", "id"),
    Index("ix_freelance_opportunities_user_company", "user_id", "company_key", "id"),
    Index(
        "ix_freelance_opportunities_duplicate_of",
        "duplicate_of",
        postgresql_where=text("duplicate_of IS NOT NULL"),
    ),
)


# One scoring profile per user (migration 0008; normalize/profiles.py is its schema).
# ``rescore_after_id``: NULL when no rescoring is pending; else the user's opportunities above
# this id are still to be rescored (app/rescoring.py, in bounded batches).
user_profiles = Table(
    "user_profiles",
    metadata,
    Column("user_id", BigInteger, primary_key=True, autoincrement=False),
    Column("profile", JSONType, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    Column("rescore_after_id", BigInteger),
)


# Users' alert rules (normalize/alert_rules.py; store/alert_rules.py). ``rule`` is the validated
# document; ``channel`` and ``secret`` (a Secrets Manager name, never a credential) are copied out of
# it as columns so an operator can find every rule using a channel or a secret.
alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("user_id", BigInteger, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("secret", String(512), nullable=False),
    Column("mode", String(10), nullable=False),
    Column("rule", JSONType, nullable=False),
    Column("created_at", UTCDateTime, nullable=False, default=utcnow),
    Column("failing_since", UTCDateTime),  # the first failure of the current run of them
    Column("last_error", Text),
    Column("disabled_at", UTCDateTime),  # after 24 hours of failures in a row; nothing is sent
    Column("digest_sent_at", UTCDateTime),  # a digest rule's last digest (app/digests.py)
    CheckConstraint("mode IN ('instant', 'digest')", name="ck_alert_rules_mode"),
    Index("ix_alert_rules_user", "user_id", "id"),
)


# One row per (rule, opportunity, channel) claimed for sending (store/alert_deliveries.py): the
# primary key is the "at most once to the person"; the times are the alert's freshness.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("rule_id", BigInteger, ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "opportunity_id",
        BigInteger,
        ForeignKey("freelance_opportunities.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("channel", String(20), primary_key=True),
    Column("state", String(10), nullable=False),  # claimed | sent
    Column("source", String(50), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime),
    Column("collected_at", UTCDateTime, nullable=False),
    Column("notified_at", UTCDateTime),
    CheckConstraint("state IN ('claimed', 'sent')", name="ck_alert_deliveries_state"),
    Index("ix_alert_deliveries_notified", "notified_at", postgresql_where=text("notified_at IS NOT NULL")),
    Index("ix_alert_deliveries_opportunity", "opportunity_id"),
)


# One collection attempt: the task history Flower used to show.
runs = Table(
    "collection_runs",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("platform_id", ForeignKey("freelance_platforms.id", ondelete="CASCADE"), nullable=False),
    Column("trigger", String(20), nullable=False),
    Column("message_id", String(128)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("http_status", Integer),
    Column("fetched", Integer, nullable=False, default=0),
    Column("inserted", Integer, nullable=False, default=0),
    Column("updated", Integer, nullable=False, default=0),
    Column("filtered", Integer, nullable=False, server_default=text("0")),
    Column("duration_ms", Integer, nullable=False, default=0),
    Column("error", Text),
    # True: a body came from the shared fetch cache (another collection's fetch); False: every
    # request went upstream; NULL: nothing was fetched (skipped, deferred) or before 0005.
    Column("shared_fetch", Boolean),
    Index("ix_collection_runs_platform_started", "platform_id", "started_at"),
)


# OpportunitiesCollected events, written with the run they describe (migration 0004 says how
# the columns are used; app/publishing.py claims, publishes and prunes them).
event_outbox = Table(
    "event_outbox",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("event_id", String(64), nullable=False),
    Column("detail_type", String(64), nullable=False),
    Column("user_id", BigInteger, nullable=False),
    Column("platform_id", Integer, nullable=False),
    Column("run_id", BigInteger),
    Column("detail", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("claimed_until", UTCDateTime),
    Column("published_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, default=0, server_default=text("0")),
    Column("last_error", Text),
    # Migration 0006: when a refused row may be offered again (its backoff), and when it was
    # refused MAX_ATTEMPTS times (no longer pending, kept to be seen).
    Column("retry_at", UTCDateTime),
    Column("dead_lettered_at", UTCDateTime),
    UniqueConstraint("event_id", name="uq_event_outbox_event_id"),
    Index(
        "ix_event_outbox_pending",
        "id",
        postgresql_where=text("published_at IS NULL AND dead_lettered_at IS NULL"),
    ),
    Index("ix_event_outbox_published", "published_at"),
    Index(
        "ix_event_outbox_dead_lettered",
        "dead_lettered_at",
        postgresql_where=text("dead_lettered_at IS NOT NULL"),
    ),
)


# The shared fetch cache (politeness/shared_fetches.py): one row per request key, shared by every platform
# that makes the same request. ``lease_owner``/``lease_until`` mark the fetch in flight.
fetch_cache = Table(
    "fetch_cache",
    metadata,
    Column("key", String(64), primary_key=True),  # sha256 hex of shared_fetches.request_key's parts
    Column("source", String(50), nullable=False),
    Column("host", String(255), nullable=False),
    Column("url", String(2048), nullable=False),  # redacted: no userinfo, no query (operators read it)
    Column("status", Integer),
    Column("etag", String(512)),
    Column("last_modified", String(100)),
    Column("content_type", String(255)),
    Column("final_url", String(2048)),  # set only when redirects led elsewhere
    Column("body", LargeBinary),  # zlib-compressed, at most MAX_RESPONSE_BYTES before compression
    Column("body_bytes", Integer),
    Column("fetched_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("error_kind", String(20)),  # transient | permanent: the failure waiters share
    Column("error", Text),
    Column("error_status", Integer),
    Column("failed_at", UTCDateTime),
    Index("ix_fetch_cache_expires", "expires_at"),
)


# Per-host politeness (store/host_slots.py): fleet-wide spacing, Retry-After holds, operator overrides.
fetch_hosts = Table(
    "fetch_hosts",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("next_request_at", UTCDateTime),
    Column("retry_after_until", UTCDateTime),
    Column("max_concurrent", Integer),  # operator override; NULL: the known or global default
    Column("min_spacing_ms", Integer),  # operator override; NULL: the known or global default
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow),
    CheckConstraint("max_concurrent IS NULL OR max_concurrent >= 1", name="ck_fetch_hosts_concurrent"),
    CheckConstraint("min_spacing_ms IS NULL OR min_spacing_ms >= 0", name="ck_fetch_hosts_spacing"),
)


# One row per request in flight to a host: a slot, freed on release or when it expires.
fetch_host_leases = Table(
    "fetch_host_leases",
    metadata,
    Column("id", _BIG_ID, primary_key=True),
    Column("host", String(255), nullable=False),
    Column("owner", String(64), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_fetch_host_leases_host", "host", "expires_at"),
)
