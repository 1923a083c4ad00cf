"""Every collection attempt records its run, whatever the provider wrote (issue 10, item 9).

Provider text reaches the stored error (a platform's own error message quoted in the reason),
and PostgreSQL refuses NUL bytes and lone surrogates. Every stored error is cleaned as item text
is (NUL removed, lone surrogates replaced, length capped) in the one place runs are recorded;
and when the database refuses the items themselves, the attempt is still recorded as a failed
run in a transaction of its own. Each case runs through the collector handler in one batch with
a healthy platform, which must not notice.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.faults.conftest import FaultEnv
from tests.faults.harness import (
    body,
    collect,
    jobs_payload,
    json_api_config,
    message,
    opportunity_count,
    platform_row,
    runs_of,
)
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

# freelancer_com's error shape: {"status": "error", "message": ..., "error_code": ...}
HOSTILE_MESSAGES = {
    "nul": "query\u0000 rejected",
    "lone surrogate": "query \ud800 rejected",
    "both": "\u0000\udfff query \ud83d rejected \u0000",
    "only hostile characters": "\u0000\ud800\u0000",
}


def _error_payload(provider_message: str) -> bytes:
    # ensure_ascii writes the NUL and the surrogates as JSON escapes, as a provider's JSON would.
    return json.dumps(
        {"status": "error", "message": provider_message, "error_code": "ProjectExceptionCodes.BAD_QUERY"}
    ).encode()


def _storable(value: str | None) -> bool:
    return value is not None and "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)


def _healthy_platform(fault_env: FaultEnv, http_server: LocalHTTPServer) -> int:
    http_server.route("/healthy", body=jobs_payload(3, prefix="healthy"))
    with fault_env.engine.begin() as conn:
        return add_platform(conn, source="json_api", config=json_api_config(http_server.url("/healthy")))


def _assert_healthy_collected(fault_env: FaultEnv, platform_id: int) -> None:
    [run] = runs_of(fault_env.engine, platform_id)
    assert (run.outcome, run.inserted) == ("success", 3)
    assert platform_row(fault_env.engine, platform_id).consecutive_failures == 0


@pytest.mark.parametrize("provider_message", HOSTILE_MESSAGES.values(), ids=HOSTILE_MESSAGES.keys())
def test_provider_error_text_is_cleaned_and_the_run_recorded(
    fault_env: FaultEnv, http_server: LocalHTTPServer, provider_message: str
) -> None:
    http_server.route("/api", body=_error_payload(provider_message), content_type="application/json")
    with fault_env.engine.begin() as conn:
        hostile = add_platform(
            conn,
            source="freelancer_com",
            config={"url": http_server.url("/api"), "site_url": "https://www.freelancer.com"},
        )
    healthy = _healthy_platform(fault_env, http_server)

    # Both acknowledged: the hostile one failed permanently (retrying cannot help), the other worked.
    assert collect([message(body(hostile)), message(body(healthy))]) == set()

    [run] = runs_of(fault_env.engine, hostile)
    assert run.outcome == "failed"
    assert _storable(run.error), run.error
    assert run.error.startswith("freelancer_com answered without success")
    platform = platform_row(fault_env.engine, hostile)
    assert platform.consecutive_failures == 1  # the failure is counted
    assert _storable(platform.last_error) and platform.last_error == run.error
    _assert_healthy_collected(fault_env, healthy)


def test_a_stored_error_is_capped_in_length(fault_env: FaultEnv, http_server: LocalHTTPServer) -> None:
    """An invalid config names its offending fields, as long as they are: the stored error is capped."""
    config = {**json_api_config(http_server.url("/jobs")), "k" * 6_000: 1, "j" * 6_000: 2}
    with fault_env.engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config)
    healthy = _healthy_platform(fault_env, http_server)

    assert collect([message(body(platform_id)), message(body(healthy))]) == set()  # bad config: acknowledged
    [run] = runs_of(fault_env.engine, platform_id)
    assert run.outcome == "failed"
    assert run.error.startswith("invalid config for source 'json_api'")
    assert len(run.error) <= 2_000
    platform = platform_row(fault_env.engine, platform_id)
    assert (platform.consecutive_failures, platform.last_error) == (1, run.error)
    _assert_healthy_collected(fault_env, healthy)


REFUSED_TITLE = "refused by the database"


@pytest.fixture
def refusing_database(pg_engine: Engine) -> Iterator[Engine]:
    """The test database refuses one title, as it refuses any value it cannot hold."""
    constraint = "test_refuses_a_title"
    with pg_engine.begin() as conn:
        conn.execute(
            text(
                f"ALTER TABLE freelance_opportunities ADD CONSTRAINT {constraint} "
                f"CHECK (title <> '{REFUSED_TITLE}')"
            )
        )
    try:
        yield pg_engine
    finally:
        with pg_engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE freelance_opportunities DROP CONSTRAINT {constraint}"))


def _jobs(*titles: str) -> bytes:
    jobs: list[dict[str, Any]] = [
        {"id": f"job-{n}", "title": title, "url": f"https://jobs.example/{n}"}
        for n, title in enumerate(titles)
    ]
    return json.dumps({"jobs": jobs}).encode()


def test_items_the_database_refuses_still_leave_a_failed_run(
    fault_env: FaultEnv, http_server: LocalHTTPServer, refusing_database: Engine
) -> None:
    http_server.route("/refused", body=_jobs("fine", REFUSED_TITLE, "also fine"))
    with fault_env.engine.begin() as conn:
        refused = add_platform(conn, source="json_api", config=json_api_config(http_server.url("/refused")))
    healthy = _healthy_platform(fault_env, http_server)

    # The same items would be refused again: acknowledged, not retried into the DLQ.
    assert collect([message(body(refused)), message(body(healthy))]) == set()

    [run] = runs_of(fault_env.engine, refused)
    assert (run.outcome, run.fetched, run.inserted) == ("failed", 3, 0)
    assert "database refused" in run.error and "test_refuses_a_title" in run.error
    assert opportunity_count(fault_env.engine, refused) == 0  # the upsert rolled back as a whole
    platform = platform_row(fault_env.engine, refused)
    assert platform.consecutive_failures == 1
    assert platform.last_error == run.error
    _assert_healthy_collected(fault_env, healthy)
