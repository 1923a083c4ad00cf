"""The clock: now, timezone-aware UTC (one place, so tests and code read time alike)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, timezone-aware UTC."""
    return datetime.now(UTC)
