"""What a source's terms let us keep only for a while, purged: Upwork's data after 24 hours.

``purge_expired(engine, now=...)`` empties the description and raw body of every opportunity of a
source with a limit in ``core.terms.CONTENT_KEPT_HOURS`` (today only ``upwork``) whose content was written
longer ago than that (``store.retention``), in batches of ``PURGE_BATCH`` rows, one transaction
each, at most ``max_batches`` of them. The dispatcher runs it on every tick after the outbox
(``tick``: never raises, a failure waits for the next tick); ``charlee-collector upwork purge`` runs
it by hand until nothing is left.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from charlee_collector.core.clock import utcnow
from charlee_collector.core.terms import CONTENT_KEPT_HOURS
from charlee_collector.observability.logger import logger
from charlee_collector.store.retention import purge_content, purgeable_count

PURGE_BATCH = 1_000
# Per dispatcher tick (every 15 minutes by default): far more than a tick's worth of new rows.
TICK_BATCHES = 10


def limited_sources() -> dict[int, list[str]]:
    """Hours -> the sources whose terms allow keeping their content that long."""
    by_hours: dict[int, list[str]] = defaultdict(list)
    for key, hours in CONTENT_KEPT_HOURS.items():
        by_hours[hours].append(key)
    return dict(by_hours)


@dataclass(frozen=True)
class PurgeSummary:
    purged: int = 0
    left: bool = False  # the batches ran out before the rows did


def purge_expired(
    engine: Engine, *, now: datetime, max_batches: int | None = TICK_BATCHES, batch: int = PURGE_BATCH
) -> PurgeSummary:
    """Empty what is kept too long (see the module docstring); ``max_batches=None``: until done."""
    purged, batches = 0, 0
    for hours, sources in limited_sources().items():
        while max_batches is None or batches < max_batches:
            with engine.begin() as conn:
                done = purge_content(
                    conn, sources=sources, written_before=now - timedelta(hours=hours), limit=batch
                )
            purged, batches = purged + done, batches + 1
            if done < batch:
                break
        else:
            return PurgeSummary(purged, left=True)
    return PurgeSummary(purged)


def purgeable(engine: Engine, *, now: datetime) -> int:
    """How many rows ``purge_expired`` would empty now."""
    with engine.connect() as conn:
        return sum(
            purgeable_count(conn, sources=sources, written_before=now - timedelta(hours=hours))
            for hours, sources in limited_sources().items()
        )


def tick(engine: Engine, *, clock: Callable[[], datetime] = utcnow) -> PurgeSummary:
    """The dispatcher's part: ``purge_expired`` bounded to one tick's batches; never raises."""
    try:
        summary = purge_expired(engine, now=clock())
    except Exception:
        logger.exception("purging content kept too long failed; the next tick tries again")
        return PurgeSummary()
    if summary.purged or summary.left:
        logger.info(
            "content kept too long purged", extra={"purged": summary.purged, "more_left": summary.left}
        )
    return summary
