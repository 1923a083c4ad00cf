"""Recording a run: the run row, then the platform moved on (reset, back off, pause, resume).

Every text stored from a run passes ``stored_error`` (cleaned, capped) or ``storable_validator``
(an ETag or Last-Modified kept exactly or not at all), so recording fails only when the database does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Integer,
    bindparam,
    update,
)
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from charlee_collector.core.scheduling import next_after_failure, next_after_success, should_pause
from charlee_collector.core.settings import SchedulingPolicy
from charlee_collector.core.text import clean_text
from charlee_collector.store.platforms import PlatformRecord, lock_platform
from charlee_collector.store.tables import platforms, runs


@dataclass(frozen=True)
class RunRecord:
    """The outcome of one collection attempt, as ``finish_run`` records it."""

    platform_id: int
    trigger: str
    outcome: str  # success | not_modified | rate_limited | deferred | failed | skipped
    started_at: datetime
    finished_at: datetime
    message_id: str | None = None
    http_status: int | None = None
    fetched: int = 0  # items the platform served (de-duplicated), before the filters
    inserted: int = 0
    updated: int = 0
    filtered: int = 0  # of ``fetched``, the items the platform's filters dropped
    error: str | None = None
    retry_at: datetime | None = None
    etag: str | None = None
    last_modified: str | None = None
    attempt: int = 1  # SQS's receive count: redeliveries of one message are one failure, not five
    shared_fetch: bool | None = None  # whether a body came from the shared fetch cache
    # False: a failure another collection's fetch of the same shared answer already counted
    # (politeness/gate.py ``settle_failure``): recorded, not counted toward backoff or pause.
    counts_failure: bool = True


@dataclass(frozen=True)
class PlatformAfterRun:
    """Where the platform stands after ``finish_run``."""

    next_collection_at: datetime | None
    consecutive_failures: int
    paused: bool
    newly_paused: bool
    # The collection_runs row written (None: the platform was deleted); an id, not a state.
    run_id: int | None = field(default=None, compare=False)


# Errors quote what providers wrote; the history keeps the start of a long one.
STORED_ERROR_LIMIT = 2_000


def stored_error(error: str | None) -> str | None:
    """An error as it can be stored: cleaned like item text (no NUL, no lone surrogate), capped."""
    text = clean_text(error)
    if text is None or len(text) <= STORED_ERROR_LIMIT:
        return text
    return text[: STORED_ERROR_LIMIT - 1] + "…"


# SQLSTATE classes of a refused value: 22 data exception, 23 integrity constraint violation.
_REFUSED_CLASSES = ("22", "23")


def refused_by_database(exc: BaseException) -> bool:
    """True when the database (or its driver) refused a value written: writing the same values
    again cannot help. False for everything else (unavailable, deadlock, timeout: worth retrying)."""
    if isinstance(exc, UnicodeEncodeError):  # text the driver cannot even send
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if isinstance(exc, IntegrityError | DataError):
        return True
    # pg8000 reports most server errors as ProgrammingError, carrying the SQLSTATE in its fields.
    fields = exc.orig.args[0] if exc.orig is not None and exc.orig.args else None
    state = fields.get("C") if isinstance(fields, dict) else None
    return isinstance(state, str) and state[:2] in _REFUSED_CLASSES


def database_reason(exc: BaseException) -> str:
    """The database's own one-line reason for ``exc`` (pg8000's message field, not the whole row)."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    fields = orig.args[0] if orig is not None and orig.args else None
    if isinstance(fields, dict) and fields.get("M"):
        return str(fields["M"])
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def storable_validator(value: str | None, column: str) -> str | None:
    """A validator stored as it came, or None when it cannot be: a cut or cleaned ETag would be a
    wrong If-None-Match, so one longer than its column or holding what the database refuses
    (NUL, a lone surrogate) is dropped."""
    if value is None:
        return None
    limit = getattr(platforms.c[column].type, "length", None)
    fits = limit is None or len(value) <= limit
    return value if fits and clean_text(value) == value else None


# Built once, the values passed as parameters: building a statement's VALUES or SET clause from
# Python values (and its cache key from those) cost more CPU than running it, ~0.5 ms per run.
_RUN_INSERT = runs.insert()


_PLATFORM_AFTER_RUN = update(platforms).where(platforms.c.id == bindparam("b_platform_id"))


_PLATFORM_AFTER_SUCCESS = _PLATFORM_AFTER_RUN.values(
    total_projects_collected=platforms.c.total_projects_collected + bindparam("b_inserted", type_=Integer)
)


def finish_run(
    conn: Connection, run: RunRecord, policy: SchedulingPolicy, *, locked: PlatformRecord | None = None
) -> PlatformAfterRun:
    """Record the run and move the platform on: reset or count failures, back off, pause, resume.

    The platform's row is locked first (``lock_platform``; ``locked`` is the row as this
    transaction already locked it, which saves reading it again), and every text stored from the
    run passes ``stored_error`` or ``storable_validator``, so recording a run fails only when the database does.
    """
    platform = locked if locked is not None else lock_platform(conn, run.platform_id)
    if platform is None:  # deleted meanwhile: its runs went with it
        return PlatformAfterRun(None, 0, paused=False, newly_paused=False)
    error = stored_error(run.error)
    recorded = conn.execute(
        _RUN_INSERT,
        dict(
            platform_id=run.platform_id,
            trigger=run.trigger,
            message_id=run.message_id,
            started_at=run.started_at,
            finished_at=run.finished_at,
            outcome=run.outcome,
            http_status=run.http_status,
            fetched=run.fetched,
            inserted=run.inserted,
            updated=run.updated,
            filtered=run.filtered,
            duration_ms=max(int((run.finished_at - run.started_at).total_seconds() * 1000), 0),
            error=error,
            shared_fetch=run.shared_fetch,
        ),
    )
    now = run.finished_at
    interval = platform.collection_interval_minutes
    values: dict[str, Any] = {"updated_at": now}
    failures = platform.consecutive_failures
    paused = platform.paused_at is not None
    newly_paused = False
    if run.outcome in ("success", "not_modified"):
        failures = 0
        paused = False
        values.update(
            last_collection_at=now,
            last_collection_count=run.fetched - run.filtered,  # what the platform's filters kept
            b_inserted=run.inserted,  # added to total_projects_collected (_PLATFORM_AFTER_SUCCESS)
            next_collection_at=next_after_success(now, interval, run.retry_at),
            consecutive_failures=0,
            last_error=None,
            paused_at=None,
        )
        if run.etag is not None or run.last_modified is not None or run.outcome == "success":
            values.update(
                etag=storable_validator(run.etag, "etag"),
                last_modified=storable_validator(run.last_modified, "last_modified"),
            )
    elif run.outcome == "rate_limited":
        values["next_collection_at"] = next_after_success(now, interval, run.retry_at)
    elif run.outcome == "deferred" and run.retry_at is not None:
        # No slot on the host yet (politeness/gate.py): due again when it opens; not a failure.
        values["next_collection_at"] = run.retry_at
    elif run.outcome == "failed" and (run.attempt > 1 or not run.counts_failure):
        # SQS is retrying a message whose first attempt already counted, or the failure was a
        # shared answer's that its fetcher counted once: note the error only.
        values.update(last_error=error, last_error_at=now)
    elif run.outcome == "failed":
        failures += 1
        values.update(
            consecutive_failures=failures,
            last_error=error,
            last_error_at=now,
            next_collection_at=next_after_failure(now, interval, failures, policy, run.retry_at),
        )
        if not paused and should_pause(failures, policy):
            paused = newly_paused = True
            values["paused_at"] = now
            values["last_error"] = stored_error(f"paused after {failures} consecutive failures: {error}")
    after = _PLATFORM_AFTER_SUCCESS if "b_inserted" in values else _PLATFORM_AFTER_RUN
    conn.execute(after, {**values, "b_platform_id": run.platform_id})
    return PlatformAfterRun(
        values.get("next_collection_at", platform.next_collection_at),
        failures,
        paused,
        newly_paused,
        run_id=int(recorded.inserted_primary_key[0]) if recorded.inserted_primary_key else None,
    )
