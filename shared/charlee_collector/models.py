"""The three tables (DESIGN section 2), as SQLAlchemy 2.0 typed models.

Names are kept from the system this replaces. ``user_id`` is an owner key, not a foreign key:
the users table belongs to the application that reads these results.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on PostgreSQL and on SQLite.

    SQLite has no time zones: values are stored as naive UTC and given their zone back on read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


# Column widths; normalisation cuts longer values to these instead of rejecting them.
LIMITS = {
    "external_id": 255,
    "title": 500,
    "url": 2048,
    "client_name": 255,
    "client_country": 100,
    "category": 255,
    "client_currency": 10,
    "contract_type": 20,
}


class FreelancePlatform(Base):
    """One watched source of one user."""

    __tablename__ = "freelance_platforms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(50))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    credentials_secret: Mapped[str | None] = mapped_column(String(512))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    auto_collect: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    collection_interval_minutes: Mapped[int] = mapped_column(Integer, default=15, server_default=text("15"))
    last_collection_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_collection_count: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    total_projects_collected: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    next_collection_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    # The partial index ix_freelance_platforms_due that serves the dispatcher's claim query is
    # created by migration 0001 (its column order differs per dialect); the schema is the
    # migrations', these models only map it.


class FreelanceOpportunity(Base):
    """One collected work opportunity."""

    __tablename__ = "freelance_opportunities"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("freelance_platforms.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(LIMITS["external_id"]))
    title: Mapped[str] = mapped_column(String(LIMITS["title"]))
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(LIMITS["url"]))
    client_name: Mapped[str | None] = mapped_column(String(LIMITS["client_name"]))
    client_country: Mapped[str | None] = mapped_column(String(LIMITS["client_country"]))
    required_skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    category: Mapped[str | None] = mapped_column(String(LIMITS["category"]))
    client_budget: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    client_currency: Mapped[str | None] = mapped_column(String(LIMITS["client_currency"]))
    contract_type: Mapped[str | None] = mapped_column(String(LIMITS["contract_type"]))
    posted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    content_hash: Mapped[str] = mapped_column(String(64))
    raw: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20), default="new", server_default=text("'new'"))

    __table_args__ = (
        UniqueConstraint("platform_id", "external_id", name="uq_freelance_opportunities_platform_external"),
        Index("ix_freelance_opportunities_platform_posted", "platform_id", "posted_at"),
    )


class CollectionRun(Base):
    """One collection attempt: the task history Flower used to show."""

    __tablename__ = "collection_runs"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    platform_id: Mapped[int] = mapped_column(ForeignKey("freelance_platforms.id", ondelete="CASCADE"))
    trigger: Mapped[str] = mapped_column(String(20))
    message_id: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None] = mapped_column(Integer)
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_collection_runs_platform_started", "platform_id", "started_at"),)


platforms = FreelancePlatform.__table__
opportunities = FreelanceOpportunity.__table__
runs = CollectionRun.__table__
