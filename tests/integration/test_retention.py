"""Upwork's data is kept at most 24 hours: descriptions and raw bodies purged, the rest kept, and
none of it in the shared response cache."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import Engine, func, select, text

from charlee_collector.app.collect import collect_platform
from charlee_collector.app.messages import CollectMessage
from charlee_collector.app.retention import PurgeSummary, purge_expired, purgeable
from charlee_collector.core.clock import utcnow
from charlee_collector.core.settings import Settings
from charlee_collector.store.opportunities import upsert_opportunities
from charlee_collector.store.tables import fetch_cache, opportunities
from tests.support.factories import add_platform, opportunity
from tests.support.upwork_server import UpworkServer, job_node


def _store(engine: Engine, source: str, count: int, *, written_hours_ago: float) -> int:
    written = utcnow() - timedelta(hours=written_hours_ago)
    with engine.begin() as conn:
        pid = add_platform(conn, source=source, name=f"{source} {written_hours_ago}")
        upsert_opportunities(
            conn, platform_id=pid, user_id=1, items=[opportunity(n) for n in range(count)], now=written
        )
    return pid


def _rows(engine: Engine, pid: int) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        query = text(
            "SELECT external_id, title, url, description, raw IS NULL AS raw_is_null "
            "FROM freelance_opportunities WHERE platform_id = :pid ORDER BY external_id"
        )
        return [tuple(row) for row in conn.execute(query, {"pid": pid})]


def test_upwork_content_older_than_24_hours_is_purged_and_the_rest_kept(pg_engine: Engine) -> None:
    old_upwork = _store(pg_engine, "upwork", 2, written_hours_ago=25)
    new_upwork = _store(pg_engine, "upwork", 1, written_hours_ago=23)
    old_feed = _store(pg_engine, "rss", 1, written_hours_ago=25 * 30)
    assert purgeable(pg_engine, now=utcnow()) == 2

    assert purge_expired(pg_engine, now=utcnow()) == PurgeSummary(purged=2, left=False)

    assert _rows(pg_engine, old_upwork) == [
        ("job-0", "Job 0", "https://example.org/jobs/0", None, True),
        ("job-1", "Job 1", "https://example.org/jobs/1", None, True),
    ]
    assert _rows(pg_engine, new_upwork) == [
        ("job-0", "Job 0", "https://example.org/jobs/0", "Description of job 0", False)
    ]
    assert _rows(pg_engine, old_feed)[0][3] == "Description of job 0"
    assert purgeable(pg_engine, now=utcnow()) == 0
    assert purge_expired(pg_engine, now=utcnow()) == PurgeSummary()


def test_purging_goes_in_bounded_batches_and_says_what_is_left(pg_engine: Engine) -> None:
    _store(pg_engine, "upwork", 5, written_hours_ago=30)

    assert purge_expired(pg_engine, now=utcnow(), batch=2, max_batches=2) == PurgeSummary(purged=4, left=True)
    assert purge_expired(pg_engine, now=utcnow(), batch=2, max_batches=None) == PurgeSummary(purged=1)


def _valid_grant(server: UpworkServer) -> dict[str, str]:
    return {
        "client_id": "c",
        "client_secret": "s",
        "token_url": server.url("/oauth2/token"),
        "refresh_token": "refresh-0",
        "access_token": "access-0",
        "access_token_expires_at": (utcnow() + timedelta(hours=10)).isoformat(),
    }


def test_upwork_answers_are_never_kept_in_the_shared_response_cache(
    pg_engine: Engine,
    upwork_server: UpworkServer,
    http_client: httpx.Client,
    allow_private_networks: Settings,
) -> None:
    upwork_server.jobs = [job_node(1)]
    sharing = dataclasses.replace(allow_private_networks, shared_fetch_window_seconds=900.0)
    with pg_engine.begin() as conn:
        ids = [
            add_platform(
                conn,
                source="upwork",
                config={"url": upwork_server.url("/graphql")},
                credentials_secret="charlee/stack/oauth/upwork",
            )
            for _ in range(2)
        ]
    grant = _valid_grant(upwork_server)

    for pid in ids:
        message = CollectMessage(platform_id=pid)
        result = collect_platform(pg_engine, http_client, message, sharing, secret_reader=lambda name: grant)
        assert (result.outcome, result.inserted) == ("success", 1)

    assert len(upwork_server.graphql_requests) == 2  # the same request and secret: asked twice
    with pg_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(fetch_cache)).scalar_one() == 0


def test_the_same_job_collected_again_after_the_purge_stays_purged(
    pg_engine: Engine,
    upwork_server: UpworkServer,
    http_client: httpx.Client,
    allow_private_networks: Settings,
) -> None:
    upwork_server.jobs = [job_node(1)]
    grant = _valid_grant(upwork_server)
    with pg_engine.begin() as conn:
        pid = add_platform(
            conn,
            source="upwork",
            config={"url": upwork_server.url("/graphql")},
            credentials_secret="charlee/stack/oauth/upwork",
        )

    def run() -> str:
        message = CollectMessage(platform_id=pid, trigger="on_demand", force=True)
        result = collect_platform(
            pg_engine, http_client, message, allow_private_networks, secret_reader=lambda name: grant
        )
        return f"{result.outcome} +{result.inserted} ~{result.updated}"

    assert run() == "success +1 ~0"
    with pg_engine.begin() as conn:  # a day and more later
        conn.execute(opportunities.update().values(updated_at=utcnow() - timedelta(hours=25)))
    assert purge_expired(pg_engine, now=utcnow()).purged == 1

    assert run() == "success +0 ~0"  # the same content: unchanged, nothing stored again
    with pg_engine.connect() as conn:
        row = conn.execute(select(opportunities)).mappings().one()
    assert (row["description"], row["raw"], row["title"]) == (None, None, "Job 1: Python scraper")
    assert (row["client_budget"], row["url"]) == (Decimal("45.00"), "https://www.upwork.com/jobs/~01abc0001")


def test_every_dispatcher_tick_purges(pipeline_env: None, pg_engine: Engine) -> None:
    import dispatcher_handler

    from charlee_collector_tools.local.handlers import LocalLambdaContext, scheduled_event

    pid = _store(pg_engine, "upwork", 1, written_hours_ago=24.5)

    dispatcher_handler.handler(scheduled_event(), LocalLambdaContext("DispatcherFunction"))

    assert _rows(pg_engine, pid)[0][3:] == (None, True)
