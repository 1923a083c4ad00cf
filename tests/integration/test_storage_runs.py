"""finish_run: the run history row and where each outcome moves the platform (DESIGN section 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select

from charlee_collector.core.settings import SchedulingPolicy
from charlee_collector.store.platforms import load_platform
from charlee_collector.store.runs import STORED_ERROR_LIMIT, PlatformAfterRun, RunRecord, finish_run
from charlee_collector.store.tables import platforms, runs
from tests.support.factories import add_platform

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
POLICY = SchedulingPolicy(max_backoff=timedelta(hours=2), pause_after_failures=4)
INTERVAL = 15

# The columns finish_run may move; everything else on the platform must stay as it was.
SCHEDULING_COLUMNS = (
    "last_collection_at",
    "last_collection_count",
    "total_projects_collected",
    "next_collection_at",
    "etag",
    "last_modified",
    "consecutive_failures",
    "last_error",
    "last_error_at",
    "paused_at",
)


def _run(platform_id: int, outcome: str, *, finished_at: datetime = NOW, **fields: Any) -> RunRecord:
    return RunRecord(
        platform_id=platform_id,
        trigger=fields.pop("trigger", "schedule"),
        outcome=outcome,
        started_at=finished_at - timedelta(milliseconds=2_500),
        finished_at=finished_at,
        **fields,
    )


def _platform(conn: Connection, platform_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(platforms).where(platforms.c.id == platform_id)).mappings().one())


def _runs(conn: Connection, platform_id: int) -> list[dict[str, Any]]:
    query = select(runs).where(runs.c.platform_id == platform_id).order_by(runs.c.id)
    return [dict(row) for row in conn.execute(query).mappings()]


def _failing_platform(conn: Connection, **columns: Any) -> int:
    return add_platform(
        conn,
        collection_interval_minutes=INTERVAL,
        consecutive_failures=3,
        last_error="HTTP 500",
        last_error_at=NOW - 60 * MINUTE,
        total_projects_collected=10,
        last_collection_count=5,
        etag='"old"',
        last_modified="Mon, 12 Jan 2026 08:00:00 GMT",
        next_collection_at=NOW - MINUTE,
        **columns,
    )


# --- success -------------------------------------------------------------------------------------


def test_success_resets_failures_and_schedules_one_interval_ahead(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)
        after = finish_run(
            conn,
            _run(platform_id, "success", fetched=7, inserted=4, updated=2, etag='"v2"', last_modified="Thu"),
            POLICY,
        )
        row = _platform(conn, platform_id)

    assert after == PlatformAfterRun(NOW + INTERVAL * MINUTE, 0, paused=False, newly_paused=False)
    assert row["consecutive_failures"] == 0
    assert row["last_error"] is None
    assert row["last_collection_at"] == NOW
    assert row["next_collection_at"] == NOW + INTERVAL * MINUTE
    assert row["total_projects_collected"] == 10 + 4
    assert row["last_collection_count"] == 7
    assert (row["etag"], row["last_modified"]) == ('"v2"', "Thu")
    assert row["paused_at"] is None


def test_total_collected_accumulates_over_runs(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        for n, inserted in enumerate((3, 0, 5)):
            finish_run(
                conn, _run(platform_id, "success", finished_at=NOW + n * MINUTE, inserted=inserted), POLICY
            )
        row = _platform(conn, platform_id)
    assert row["total_projects_collected"] == 8


def test_on_demand_success_resumes_a_paused_platform(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn, paused_at=NOW - 60 * MINUTE)
        after = finish_run(conn, _run(platform_id, "success", trigger="on_demand"), POLICY)
        row = _platform(conn, platform_id)
    assert after.paused is False
    assert after.newly_paused is False
    assert row["paused_at"] is None
    assert row["consecutive_failures"] == 0


def test_success_respects_a_retry_after_given_with_it(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=INTERVAL)
        after = finish_run(conn, _run(platform_id, "success", retry_at=NOW + 90 * MINUTE), POLICY)
        assert _platform(conn, platform_id)["next_collection_at"] == NOW + 90 * MINUTE
    assert after.next_collection_at == NOW + 90 * MINUTE


def test_success_without_validators_clears_the_stored_ones(pg_engine: Engine) -> None:
    """The source stopped sending ETag/Last-Modified: a stale one would make every GET conditional."""
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)
        finish_run(conn, _run(platform_id, "success"), POLICY)
        row = _platform(conn, platform_id)
    assert (row["etag"], row["last_modified"]) == (None, None)


def test_not_modified_counts_as_success_and_keeps_the_validators(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)
        after = finish_run(conn, _run(platform_id, "not_modified", http_status=304), POLICY)
        row = _platform(conn, platform_id)
    assert after == PlatformAfterRun(NOW + INTERVAL * MINUTE, 0, paused=False, newly_paused=False)
    assert row["consecutive_failures"] == 0
    assert row["last_collection_at"] == NOW
    assert row["last_collection_count"] == 0
    assert (row["etag"], row["last_modified"]) == ('"old"', "Mon, 12 Jan 2026 08:00:00 GMT")


# --- failure -------------------------------------------------------------------------------------

# One row per consecutive failure with the policy above (interval 15 min, cap 2 h, pause after 4):
# (failures after the run, delay to the next collection, paused, newly paused).
FAILURE_STEPS = [
    (1, 15 * MINUTE, False, False),
    (2, 30 * MINUTE, False, False),
    (3, 60 * MINUTE, False, False),
    (4, 120 * MINUTE, True, True),
    (5, 120 * MINUTE, True, False),
    (6, 120 * MINUTE, True, False),
]


def test_failures_back_off_exponentially_cap_and_pause_once(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=INTERVAL)
        finished = NOW
        for failures, delay, paused, newly_paused in FAILURE_STEPS:
            after = finish_run(
                conn,
                _run(
                    platform_id,
                    "failed",
                    finished_at=finished,
                    http_status=500,
                    error=f"HTTP 500 #{failures}",
                ),
                POLICY,
            )
            row = _platform(conn, platform_id)
            step = f"failure {failures}"
            assert after == PlatformAfterRun(finished + delay, failures, paused, newly_paused), step
            assert row["consecutive_failures"] == failures, step
            assert row["next_collection_at"] == finished + delay, step
            assert row["last_error_at"] == finished, step
            assert (row["paused_at"] is not None) is paused, step
            if failures < 4:
                assert row["last_error"] == f"HTTP 500 #{failures}", step
            finished = after.next_collection_at
        assert _platform(conn, platform_id)["paused_at"] == NOW + (15 + 30 + 60) * MINUTE
        assert len(_runs(conn, platform_id)) == len(FAILURE_STEPS)


def test_pause_records_the_reason(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)  # three failures already
        after = finish_run(conn, _run(platform_id, "failed", error="HTTP 404 Not Found"), POLICY)
        row = _platform(conn, platform_id)
    assert after.newly_paused is True
    assert row["paused_at"] == NOW
    assert "4 consecutive failures" in row["last_error"]
    assert "HTTP 404 Not Found" in row["last_error"]


def test_failure_does_not_touch_the_success_columns(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn, last_collection_at=NOW - 120 * MINUTE)
        before = _platform(conn, platform_id)
        finish_run(conn, _run(platform_id, "failed", error="timeout"), POLICY)
        row = _platform(conn, platform_id)
    for name in (
        "last_collection_at",
        "last_collection_count",
        "total_projects_collected",
        "etag",
        "last_modified",
    ):
        assert row[name] == before[name], name


def test_redeliveries_of_one_message_count_one_failure(pg_engine: Engine) -> None:
    """SQS retries a transiently failing message up to MaxReceiveCount: one tick, one failure."""
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=INTERVAL)
        first = finish_run(conn, _run(platform_id, "failed", error="500"), POLICY)
        for attempt in (2, 3, 4, 5):
            later = finish_run(
                conn, _run(platform_id, "failed", error=f"500 again ({attempt})", attempt=attempt), POLICY
            )
            assert later.consecutive_failures == 1
            assert later.next_collection_at == first.next_collection_at
        row = _platform(conn, platform_id)
        assert row["last_error"] == "500 again (5)"
        assert row["paused_at"] is None
        assert len(_runs(conn, platform_id)) == 5  # every attempt stays in the history


def test_failure_never_retries_before_retry_after(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=INTERVAL)
        after = finish_run(conn, _run(platform_id, "failed", error="503", retry_at=NOW + 45 * MINUTE), POLICY)
    assert after.next_collection_at == NOW + 45 * MINUTE


# --- rate limited, skipped -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retry_at", "expected_next"),
    [
        pytest.param(NOW + 180 * MINUTE, NOW + 180 * MINUTE, id="retry-after-beyond-the-interval"),
        pytest.param(NOW + 5 * MINUTE, NOW + INTERVAL * MINUTE, id="retry-after-within-the-interval"),
        pytest.param(None, NOW + INTERVAL * MINUTE, id="no-retry-after"),
    ],
)
def test_rate_limited_waits_for_retry_after_and_counts_no_failure(
    pg_engine: Engine, retry_at: datetime | None, expected_next: datetime
) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)
        before = _platform(conn, platform_id)
        after = finish_run(
            conn, _run(platform_id, "rate_limited", http_status=429, retry_at=retry_at), POLICY
        )
        row = _platform(conn, platform_id)
    assert after == PlatformAfterRun(expected_next, 3, paused=False, newly_paused=False)
    assert row["next_collection_at"] == expected_next
    for name in SCHEDULING_COLUMNS:
        if name != "next_collection_at":
            assert row[name] == before[name], name


@pytest.mark.parametrize("paused", [False, True], ids=["active", "paused"])
def test_skipped_only_records_the_run(pg_engine: Engine, paused: bool) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn, paused_at=NOW - 60 * MINUTE if paused else None)
        before = _platform(conn, platform_id)
        after = finish_run(conn, _run(platform_id, "skipped", trigger="on_demand"), POLICY)
        row = _platform(conn, platform_id)
        assert len(_runs(conn, platform_id)) == 1
    assert after == PlatformAfterRun(before["next_collection_at"], 3, paused=paused, newly_paused=False)
    for name in SCHEDULING_COLUMNS:
        assert row[name] == before[name], name


# --- the run row ---------------------------------------------------------------------------------


OUTCOMES = ("success", "not_modified", "rate_limited", "failed", "skipped")


def test_each_outcome_writes_exactly_one_run_row(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_of = {outcome: add_platform(conn, name=outcome) for outcome in OUTCOMES}
        untouched = add_platform(conn)
        for outcome, platform_id in platform_of.items():
            record = _run(
                platform_id,
                outcome,
                trigger="on_demand",
                message_id=f"msg-{outcome}",
                http_status=200,
                fetched=9,
                inserted=4,
                updated=1,
                error="boom" if outcome == "failed" else None,
            )
            finish_run(conn, record, POLICY)
            rows = _runs(conn, platform_id)
            assert len(rows) == 1, outcome
            row = rows[0]
            assert row["outcome"] == outcome
            assert row["duration_ms"] == 2_500, outcome
            assert (row["started_at"], row["finished_at"]) == (NOW - timedelta(milliseconds=2_500), NOW)
            assert (row["trigger"], row["message_id"], row["http_status"]) == (
                "on_demand",
                f"msg-{outcome}",
                200,
            )
            assert (row["fetched"], row["inserted"], row["updated"]) == (9, 4, 1), outcome
            assert row["error"] == record.error, outcome
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == len(OUTCOMES)
        assert _runs(conn, untouched) == []


def test_duration_is_never_negative(pg_engine: Engine) -> None:
    """A clock step backwards between start and finish must not write a negative duration."""
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        record = RunRecord(platform_id, "schedule", "success", started_at=NOW, finished_at=NOW - MINUTE)
        finish_run(conn, record, POLICY)
        assert _runs(conn, platform_id)[0]["duration_ms"] == 0


def test_load_platform(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn, config={"url": "https://example.org/feed", "query": "python"})
        record = load_platform(conn, platform_id, lock=True)
        assert load_platform(conn, platform_id + 1) is None
    assert record is not None
    assert (record.id, record.source, record.config) == (
        platform_id,
        "rss",
        {"url": "https://example.org/feed", "query": "python"},
    )
    assert (record.consecutive_failures, record.etag, record.next_collection_at) == (3, '"old"', NOW - MINUTE)
    assert record.paused_at is None


# --- what a run stores from provider text ---------------------------------------------------------

HOSTILE_ERROR = "bad \x00query\ud800 " + "x" * 5_000


def test_stored_errors_are_cleaned_and_capped(pg_engine: Engine) -> None:
    """NUL bytes and lone surrogates (which PostgreSQL refuses) never make a run unstorable."""
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        finish_run(conn, _run(platform_id, "failed", error=HOSTILE_ERROR), POLICY)
        [run] = _runs(conn, platform_id)
        row = _platform(conn, platform_id)
    assert run["error"].startswith("bad query\ufffd xxx")
    assert len(run["error"]) == STORED_ERROR_LIMIT and run["error"].endswith("…")
    assert row["last_error"] == run["error"]


def test_a_pause_reason_is_cleaned_and_capped_too(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)  # three failures already: this one pauses
        after = finish_run(conn, _run(platform_id, "failed", error=HOSTILE_ERROR), POLICY)
        row = _platform(conn, platform_id)
    assert after.newly_paused
    assert row["last_error"].startswith("paused after 4 consecutive failures: bad query\ufffd")
    assert len(row["last_error"]) == STORED_ERROR_LIMIT


@pytest.mark.parametrize("etag", ['"a\x00b"', '"a\ud800b"'])
def test_validators_the_database_cannot_hold_are_dropped_not_cleaned(pg_engine: Engine, etag: str) -> None:
    """A cleaned ETag would be a wrong If-None-Match: it is dropped, and the run still recorded."""
    with pg_engine.begin() as conn:
        platform_id = _failing_platform(conn)
        finish_run(conn, _run(platform_id, "success", etag=etag, last_modified="Thu\x00"), POLICY)
        row = _platform(conn, platform_id)
    assert (row["etag"], row["last_modified"]) == (None, None)
    assert row["consecutive_failures"] == 0


def test_a_run_of_a_platform_deleted_meanwhile_is_not_recorded(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        after = finish_run(conn, _run(987_654, "success"), POLICY)
        assert conn.execute(select(func.count()).select_from(runs)).scalar_one() == 0
    assert after == PlatformAfterRun(None, 0, paused=False, newly_paused=False)
