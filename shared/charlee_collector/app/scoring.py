"""Scores and duplicate keys for stored opportunities: when they are stored, and again, in
bounded batches, when their owner's profile changes.

``storage_annotations`` gives ``prepare_items`` each item's score (``normalize/scoring.py``; NULL
when the user has no profile) and duplicate keys (``normalize/duplicate_keys.py``), computed
before the collection's transaction. ``rescore_user`` rescores one user's open opportunities,
``RESCORE_BATCH`` rows per transaction; ``rescore_pending`` is what a dispatcher tick runs: the
pending users' batches while its time lasts, at most ``TICK_BATCHES`` of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine

from charlee_collector.core.clock import utcnow
from charlee_collector.core.errors import InvalidProfile
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.normalize.duplicate_keys import duplicate_keys
from charlee_collector.normalize.profiles import Profile, parse_profile
from charlee_collector.normalize.scoring import Scorer
from charlee_collector.observability.logger import logger
from charlee_collector.store.opportunities import Annotate, stored_opportunity
from charlee_collector.store.profiles import (
    advance_rescore,
    claim_rescore,
    open_opportunities_after,
    pending_rescores,
    write_rescored,
)

RESCORE_BATCH = 500  # rows per transaction: a few hundred ms of work, a short lock
TICK_BATCHES = 20  # batches one dispatcher tick runs at most (10,000 rows)


@lru_cache(maxsize=256)
def stored_profile(document: str | None) -> Profile | None:
    """The profile stored as ``document`` (JSON text); None without one, or (logged) when it no
    longer validates. Cached by text: a collection reads its user's profile each time."""
    if document is None:
        return None
    try:
        return parse_profile(json.loads(document))
    except InvalidProfile as exc:  # saved by an older version: score nothing rather than fail collecting
        logger.warning("stored profile no longer valid; not scoring", extra={"error": str(exc)})
        return None


def item_columns(item: Opportunity, scorer: Scorer | None, now: datetime) -> dict[str, Any]:
    """``item``'s score (by its owner's profile's ``scorer``; None without a profile), its parts and
    its duplicate keys, as the opportunity columns hold them."""
    keys = duplicate_keys(item)
    values: dict[str, Any] = {
        "score": None,
        "score_reasons": None,
        "canonical_url": keys.canonical_url,
        "title_key": keys.title_key,
        "company_key": keys.company_key,
    }
    if scorer is not None:
        score = scorer.score(item, now=now)
        values["score"], values["score_reasons"] = score.total, score.reasons
    return values


def storage_annotations(profile: Profile | None, now: datetime) -> Annotate:
    """What ``prepare_items`` calls for each item of a collection stored at ``now``."""
    scorer = _scorer(profile)
    return lambda item: item_columns(item, scorer, now)


def _scorer(profile: Profile | None) -> Scorer | None:
    # Once per collection or batch: the profile's part of every item's score.
    return None if profile is None else Scorer(profile)


def rescore_batch(
    engine: Engine, user_id: int, *, batch_size: int = RESCORE_BATCH, now: datetime
) -> int | None:
    """Rescore the next batch of the user's open opportunities in one transaction; the rows
    rescored, or None when nothing was pending (or another rescorer holds the user)."""
    with engine.begin() as conn:
        claim = claim_rescore(conn, user_id)
        if claim is None:
            return None
        scorer = _scorer(stored_profile(claim.profile))
        rows = open_opportunities_after(conn, user_id, claim.after_id, limit=batch_size)
        write_rescored(
            conn, [{"id": row["id"], **item_columns(stored_opportunity(row), scorer, now)} for row in rows]
        )
        done = len(rows) < batch_size
        advance_rescore(conn, user_id, None if done else rows[-1]["id"])
        return len(rows)


def rescore_user(
    engine: Engine,
    user_id: int,
    *,
    batch_size: int = RESCORE_BATCH,
    clock: Callable[[], datetime] = utcnow,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Rescore all the user's pending open opportunities, batch after batch; the rows rescored."""
    total = 0
    while (count := rescore_batch(engine, user_id, batch_size=batch_size, now=clock())) is not None:
        total += count
        if on_batch is not None:
            on_batch(count)
        if count < batch_size:
            break
    return total


def rescore_pending(
    engine: Engine,
    *,
    time_left_ms: Callable[[], int] = lambda: 1 << 30,
    margin_ms: int = 10_000,
    max_batches: int = TICK_BATCHES,
    batch_size: int = RESCORE_BATCH,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """A dispatcher tick's share of the pending rescoring: batches of the users whose profile changed
    (oldest change first) while time remains, at most ``max_batches``; the rows rescored. Never
    raises: a failure is logged, and the cursor left where the last batch put it for the next tick."""
    total = batches = 0
    try:
        with engine.connect() as conn:
            users = pending_rescores(conn, limit=max_batches)
        for user_id in users:
            count: int | None = batch_size
            while count == batch_size and batches < max_batches and time_left_ms() > margin_ms:
                count = rescore_batch(engine, user_id, batch_size=batch_size, now=clock())
                batches += 1
                total += count or 0
    except Exception:
        logger.exception("rescoring failed; the next tick goes on from where it stopped")
    if total:
        logger.info("opportunities rescored", extra={"rows": total, "batches": batches})
    return total
