"""Content a source's terms let us keep only for a while: emptied, in bounded batches.

``purge_content`` empties ``description`` and ``raw`` of opportunities of the given sources whose
content was last written (``updated_at``: an upsert rewrites a row only when its content changed)
before a time; ids, URLs, titles, budgets and every field we derive stay, and so does the content
hash, so the same content collected again is "unchanged" and is not stored again. A purged row is
one with neither (no marker column: ``description IS NULL AND raw IS NULL`` is the mark).
``purgeable_count`` says how many rows that is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, null, or_, select, update

from charlee_collector.store.tables import opportunities, platforms

_o = opportunities.c
_with_platform = opportunities.join(platforms, platforms.c.id == _o.platform_id)


def _kept_too_long(sources: Sequence[str], written_before: datetime) -> tuple[Any, ...]:
    return (
        platforms.c.source.in_(list(sources)),
        _o.updated_at < written_before,
        or_(_o.description.is_not(None), _o.raw.is_not(None)),
    )


def purge_content(conn: Connection, *, sources: Sequence[str], written_before: datetime, limit: int) -> int:
    """Empty the description and raw body of at most ``limit`` rows (oldest first); how many."""
    due = (
        select(_o.id)
        .select_from(_with_platform)
        .where(*_kept_too_long(sources, written_before))
        .order_by(_o.updated_at)
        .limit(limit)
        # Rows an upsert holds are left for the next batch rather than waited for.
        .with_for_update(of=opportunities, skip_locked=True)
    )
    statement = (
        update(opportunities).where(_o.id.in_(due.scalar_subquery())).values(description=None, raw=null())
    )
    return max(conn.execute(statement).rowcount, 0)


def purgeable_count(conn: Connection, *, sources: Sequence[str], written_before: datetime) -> int:
    """How many rows ``purge_content`` would empty, every batch together."""
    query = select(func.count()).select_from(_with_platform).where(*_kept_too_long(sources, written_before))
    return int(conn.execute(query).scalar_one())
