"""The dispatcher's count of silent sources (store/silence.py says when a source is silent).

``report_silent`` is called on each scheduled tick: it emits ``PlatformsSilent`` (how many
platforms are silent now, a gauge the template alarms on) and logs which ones. It never raises:
a failing check must not stop the dispatch it follows.
"""

from __future__ import annotations

from sqlalchemy import Engine

from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import Metric, metrics
from charlee_collector.store.silence import silent_platforms

LOGGED_IDS = 50  # platform ids named in the warning; the count is always whole


def report_silent(engine: Engine) -> int | None:
    """How many platforms are silent now (None when the check failed), emitted as ``PlatformsSilent``."""
    try:
        with engine.connect() as conn:
            silent = silent_platforms(conn)
    except Exception:
        logger.exception("the silent-source check failed; the next tick tries again")
        return None
    metrics.add_metric(name=Metric.PLATFORMS_SILENT, unit="Count", value=len(silent))
    if silent:
        logger.warning(
            "sources gone silent: successful runs that fetch (almost) nothing",
            extra={"silent": len(silent), "platform_ids": [s.platform_id for s in silent[:LOGGED_IDS]]},
        )
    return len(silent)
