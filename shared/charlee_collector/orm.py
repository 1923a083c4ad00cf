"""Typed SQLAlchemy 2.0 ORM models of the three tables, for code that wants objects.

They map the Core tables of ``models.py`` (one schema, declared once). The Lambda handlers use
Core only and never import this module: the ORM costs a cold start about a fifth of a second.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from charlee_collector.models import metadata, opportunities, platforms, runs


class Base(DeclarativeBase):
    metadata = metadata


class FreelancePlatform(Base):
    """One watched source of one user."""

    __table__ = platforms

    id: Mapped[int]
    user_id: Mapped[int]
    name: Mapped[str]
    source: Mapped[str]
    config: Mapped[dict[str, Any]]
    credentials_secret: Mapped[str | None]
    active: Mapped[bool]
    auto_collect: Mapped[bool]
    collection_interval_minutes: Mapped[int]
    last_collection_at: Mapped[datetime | None]
    last_collection_count: Mapped[int]
    total_projects_collected: Mapped[int]
    next_collection_at: Mapped[datetime | None]
    etag: Mapped[str | None]
    last_modified: Mapped[str | None]
    consecutive_failures: Mapped[int]
    last_error: Mapped[str | None]
    last_error_at: Mapped[datetime | None]
    paused_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FreelanceOpportunity(Base):
    """One collected work opportunity."""

    __table__ = opportunities

    id: Mapped[int]
    user_id: Mapped[int]
    platform_id: Mapped[int]
    external_id: Mapped[str]
    title: Mapped[str]
    description: Mapped[str | None]
    url: Mapped[str | None]
    client_name: Mapped[str | None]
    client_country: Mapped[str | None]
    required_skills: Mapped[list[str]]
    category: Mapped[str | None]
    client_budget: Mapped[Decimal | None]
    client_currency: Mapped[str | None]
    contract_type: Mapped[str | None]
    budget_period: Mapped[str | None]
    posted_at: Mapped[datetime | None]
    collected_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    content_hash: Mapped[str]
    raw: Mapped[dict[str, Any] | None]
    status: Mapped[str]


class CollectionRun(Base):
    """One collection attempt: the task history Flower used to show."""

    __table__ = runs

    id: Mapped[int]
    platform_id: Mapped[int]
    trigger: Mapped[str]
    message_id: Mapped[str | None]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    outcome: Mapped[str]
    http_status: Mapped[int | None]
    fetched: Mapped[int]
    inserted: Mapped[int]
    updated: Mapped[int]
    filtered: Mapped[int]
    duration_ms: Mapped[int]
    error: Mapped[str | None]
