"""The platforms a fresh local database starts with: one per built-in source that needs no
credentials and no company's board (the applicant-tracking sources need one), each pointing at
the real public feed or API (user 1), each collected no more often than its API's terms allow
(``Source.min_interval_minutes``, kept in the source module; a test holds every seed to it).
docs/getting-started.md lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, func, insert, select

from charlee_collector.core.clock import utcnow
from charlee_collector.core.scheduling import check_interval
from charlee_collector.store.tables import platforms

DEFAULT_USER_ID = 1

# collection_interval_minutes: hourly unless the API asks for less (Remotive, Jobicy: 4 a day).
DEFAULT_PLATFORMS: tuple[dict[str, Any], ...] = (
    {
        "name": "We Work Remotely: programming",
        "source": "rss",
        "config": {"url": "https://weworkremotely.com/categories/remote-programming-jobs.rss"},
        "collection_interval_minutes": 60,
    },
    {
        "name": "Remote OK",
        "source": "remoteok",
        "config": {"url": "https://remoteok.com/api"},
        "collection_interval_minutes": 60,
    },
    {
        "name": "Remotive: software development",
        "source": "remotive",
        "config": {"category": "software-dev"},
        "collection_interval_minutes": 360,
    },
    {"name": "Himalayas", "source": "himalayas", "config": {}, "collection_interval_minutes": 60},
    {"name": "Arbeitnow", "source": "arbeitnow", "config": {}, "collection_interval_minutes": 60},
    {"name": "Jobicy", "source": "jobicy", "config": {}, "collection_interval_minutes": 360},
    {
        "name": "Hacker News: Freelancer? Seeking Freelancer?",
        "source": "hn_freelancer",
        "config": {},
        "collection_interval_minutes": 60,
    },
    {
        "name": "Freelancer.com: active projects",
        "source": "freelancer_com",
        "config": {},
        "collection_interval_minutes": 60,
    },
    {"name": "Working Nomads", "source": "workingnomads", "config": {}, "collection_interval_minutes": 60},
    {"name": "Landing.jobs", "source": "landingjobs", "config": {}, "collection_interval_minutes": 60},
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
                # held to the bound every platform's interval keeps
                "collection_interval_minutes": check_interval(platform["collection_interval_minutes"]),
                "user_id": user_id,
                "active": True,
                "auto_collect": True,
                "created_at": now,
                "updated_at": now,
            }
            for platform in DEFAULT_PLATFORMS
        ]
        return [int(x) for x in conn.execute(insert(platforms).returning(platforms.c.id), rows).scalars()]
