"""Rows for tests: platforms and opportunities with sensible defaults."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert

from charlee_collector.core.clock import utcnow
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.store.tables import platforms, runs


def add_platform(conn: Connection, **overrides: Any) -> int:
    """Insert one platform and return its id."""
    now = utcnow()
    values: dict[str, Any] = {
        "user_id": 1,
        "name": "test platform",
        "source": "rss",
        "config": {"url": "http://127.0.0.1:9/feed.xml"},
        "active": True,
        "auto_collect": True,
        "collection_interval_minutes": 15,
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    return int(conn.execute(insert(platforms).values(**values).returning(platforms.c.id)).scalar_one())


def add_platforms(conn: Connection, count: int, **overrides: Any) -> list[int]:
    """Insert ``count`` platforms in one statement and return their ids."""
    now = utcnow()
    rows = []
    for i in range(count):
        row: dict[str, Any] = {
            "user_id": 1,
            "name": f"platform {i}",
            "source": "rss",
            "config": {"url": f"http://127.0.0.1:9/{i}.xml"},
            "active": True,
            "auto_collect": True,
            "collection_interval_minutes": 15,
            "created_at": now,
            "updated_at": now,
        }
        row.update(overrides)
        rows.append(row)
    result = conn.execute(insert(platforms).returning(platforms.c.id), rows)
    return [int(x) for x in result.scalars()]


def add_runs(conn: Connection, platform_id: int, fetched: Sequence[int], *, outcome: str = "success") -> None:
    """One run per count in ``fetched``, oldest first, 15 minutes apart and ending now."""
    now = utcnow()
    rows = [
        {
            "platform_id": platform_id,
            "trigger": "schedule",
            "started_at": now - timedelta(minutes=15 * (len(fetched) - n)),
            "finished_at": now - timedelta(minutes=15 * (len(fetched) - n)),
            "outcome": outcome,
            "fetched": count,
        }
        for n, count in enumerate(fetched, start=1)
    ]
    conn.execute(insert(runs), rows)


def opportunity(n: int, *, title: str | None = None, posted_at: datetime | None = None) -> Opportunity:
    """A normalised opportunity numbered ``n``."""
    return Opportunity(
        external_id=f"job-{n}",
        title=title or f"Job {n}",
        description=f"Description of job {n}",
        url=f"https://example.org/jobs/{n}",
        required_skills=["python", "aws"],
        posted_at=posted_at,
        raw={"id": n},
    )
