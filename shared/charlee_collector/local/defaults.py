"""The platforms a fresh local database starts with: one per built-in source that needs no
credentials, each pointing at the real public feed or API (user 1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select

from charlee_collector.models import platforms, utcnow
from charlee_collector.scheduling import check_interval

DEFAULT_USER_ID = 1
DEFAULT_INTERVAL_MINUTES = check_interval(30)  # held to the bound every platform's interval keeps

DEFAULT_PLATFORMS: tuple[dict[str, Any], ...] = (
    {
        "name": "We Work Remotely: programming",
        "source": "rss",
        "config": {"url": "https://weworkremotely.com/categories/remote-programming-jobs.rss"},
    },
    {"name": "Remote OK", "source": "remoteok", "config": {"url": "https://remoteok.com/api"}},
    {"name": "Remotive: software development", "source": "remotive", "config": {"category": "software-dev"}},
    {"name": "Himalayas", "source": "himalayas", "config": {}},
    {"name": "Arbeitnow", "source": "arbeitnow", "config": {}},
    {"name": "Jobicy", "source": "jobicy", "config": {}},
    {"name": "Hacker News: Freelancer? Seeking Freelancer?", "source": "hn_freelancer", "config": {}},
    {"name": "Freelancer.com: active projects", "source": "freelancer_com", "config": {}},
)


def seed_defaults(engine: Engine, *, user_id: int = DEFAULT_USER_ID) -> list[int]:
    """Add the default platforms when the database has none at all; returns the new ids."""
    now = utcnow()
    with engine.begin() as conn:
        if conn.execute(select(func.count()).select_from(platforms)).scalar_one():
            return []
        rows = [
            {
                **platform,
                "user_id": user_id,
                "active": True,
                "auto_collect": True,
                "collection_interval_minutes": DEFAULT_INTERVAL_MINUTES,
                "created_at": now,
                "updated_at": now,
            }
            for platform in DEFAULT_PLATFORMS
        ]
        return [int(x) for x in conn.execute(insert(platforms).returning(platforms.c.id), rows).scalars()]
