"""Sources gone silent: platforms whose successful collections stopped yielding items.

A platform is silent when each of its last ``SILENT_RUNS`` successful runs fetched less than
``SILENT_SHARE`` of the median fetched by the up to ``USUAL_RUNS`` successful runs before them,
and that median is above zero (docs/operations.md, "A source that goes silent"). Only ``success``
runs count: an unchanged feed (``not_modified``), a failure or a deferral says nothing of what the
source yields. Computed from ``collection_runs``, newest first, per platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from sqlalchemy import Connection, select, true

from charlee_collector.store.tables import platforms, runs

SILENT_RUNS = 3  # successful runs in a row that yielded (almost) nothing
USUAL_RUNS = 10  # the successful runs before them that say what is usual
SILENT_SHARE = 0.1  # "almost nothing": under a tenth of the usual count


@dataclass(frozen=True)
class Silence:
    """A silent platform: what its last runs fetched (newest first) against what is usual."""

    platform_id: int
    recent: tuple[int, ...]
    usual: float

    def describe(self) -> str:
        """One line for a person: what the last runs fetched, and what they used to."""
        fetched = ", ".join(str(n) for n in self.recent)
        return f"yes: the last {len(self.recent)} successful runs fetched {fetched}, usually {self.usual:g}"


def silence_of(platform_id: int, fetched_newest_first: Sequence[int]) -> Silence | None:
    """The platform's silence, from what its successful runs fetched (newest first); None if it is not."""
    recent = tuple(fetched_newest_first[:SILENT_RUNS])
    before = fetched_newest_first[SILENT_RUNS : SILENT_RUNS + USUAL_RUNS]
    if len(recent) < SILENT_RUNS or not before:
        return None
    usual = float(median(before))
    if usual <= 0 or any(n >= SILENT_SHARE * usual for n in recent):
        return None
    return Silence(platform_id, recent, usual)


def silent_platforms(conn: Connection, platform_ids: Sequence[int] | None = None) -> list[Silence]:
    """The silent platforms among ``platform_ids``, or among those the schedule collects (active,
    not paused: a paused platform is flagged as paused), by id."""
    last = (
        select(runs.c.fetched, runs.c.started_at, runs.c.id)
        .where(runs.c.platform_id == platforms.c.id, runs.c.outcome == "success")
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(SILENT_RUNS + USUAL_RUNS)
        .lateral("last_successes")
    )
    query = select(platforms.c.id, last.c.fetched).join(last, true())
    if platform_ids is None:
        query = query.where(platforms.c.active.is_(True), platforms.c.paused_at.is_(None))
    else:
        query = query.where(platforms.c.id.in_(list(platform_ids)))
    query = query.order_by(platforms.c.id, last.c.started_at.desc(), last.c.id.desc())
    fetched: dict[int, list[int]] = {}
    for platform_id, count in conn.execute(query):
        fetched.setdefault(platform_id, []).append(count)
    return [s for pid, counts in fetched.items() if (s := silence_of(pid, counts)) is not None]
