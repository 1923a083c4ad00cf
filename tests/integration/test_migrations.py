"""Alembic migrations: create from empty, drop on downgrade, create again; each revision
upgrades a database holding the previous revision's rows (those its new rules refuse included)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import URL, Connection, Engine, insert, inspect, select, text
from sqlalchemy.exc import DBAPIError

from charlee_collector.core.clock import utcnow
from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector.store import migrate
from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.tables import (
    event_outbox,
    fetch_cache,
    fetch_host_leases,
    fetch_hosts,
    opportunities,
    platforms,
    runs,
    user_profiles,
)
from charlee_collector_tools.cli.common import head_revision
from tests.support.db import scratch_database

TABLES = {"freelance_platforms", "freelance_opportunities", "collection_runs", "event_outbox"}
HEAD = "0010"


def _roundtrip(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    assert migrate.current_revision(engine) == HEAD
    migrate.downgrade(engine)
    assert not TABLES & set(inspect(engine).get_table_names())
    assert migrate.current_revision(engine) is None
    migrate.upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_postgres_upgrade_downgrade_upgrade(empty_engine: Engine) -> None:
    _roundtrip(empty_engine)
    columns = {c["name"] for c in inspect(empty_engine).get_columns("freelance_platforms")}
    assert {"next_collection_at", "etag", "last_modified", "consecutive_failures", "paused_at"} <= columns
    indexes = {i["name"] for i in inspect(empty_engine).get_indexes("freelance_platforms")}
    assert "ix_freelance_platforms_due" in indexes


def test_models_match_migrations(pg_engine: Engine) -> None:
    """The typed models and the migration describe the same columns."""
    from charlee_collector.store.tables import metadata

    inspector = inspect(pg_engine)
    for table in metadata.sorted_tables:
        in_db = {c["name"] for c in inspector.get_columns(table.name)}
        assert in_db == {c.name for c in table.columns}, table.name


def test_two_upgrades_of_a_new_database_at_once_take_turns(empty_engine: Engine) -> None:
    """Two commands that find the embedded database new at the same moment both upgrade it: the
    second waits for the first (an advisory lock) and finds the schema current."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(migrate.upgrade, empty_engine) for _ in range(2)]:
            future.result()
    assert migrate.current_revision(empty_engine) == HEAD


def test_head_is_the_newest_revision() -> None:
    assert head_revision() == HEAD


@pytest.fixture
def empty_engine(postgres_server_url: URL) -> Iterator[Engine]:
    """An engine on a database of its own that was never migrated."""
    with scratch_database(postgres_server_url, "charlee_migr") as url:
        engine = create_db_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


def _platform_row(name: str, interval: int, **columns: Any) -> dict[str, Any]:
    now = utcnow()
    return {
        "user_id": 1,
        "name": name,
        "source": "rss",
        "config": {"url": "https://example.org/feed.xml"},
        "collection_interval_minutes": interval,
        "created_at": now,
        "updated_at": now,
        **columns,
    }


def _opportunity_row(platform_id: int, **columns: Any) -> dict[str, Any]:
    """An opportunity naming only the columns every revision has (plus ``columns``): the insert a
    collector of that revision ran, so it works on a table without the newer columns."""
    return {
        "user_id": 1,
        "platform_id": platform_id,
        "external_id": "job-1",
        "title": "Job",
        "required_skills": [],
        "content_hash": "0" * 64,
        **columns,
    }


def _held_platform(conn: Connection) -> int:
    """A platform row as every revision holds it ("held", hourly); its id."""
    return int(
        conn.execute(
            insert(platforms).values(**_platform_row("held", 60)).returning(platforms.c.id)
        ).scalar_one()
    )


def _scored_opportunity(conn: Connection, platform_id: int, external_id: str, now: datetime) -> None:
    """An opportunity as 0008 and later store it, scored 80."""
    conn.execute(
        insert(opportunities).values(
            **_opportunity_row(
                platform_id, external_id=external_id, score=80, collected_at=now, updated_at=now
            )
        )
    )


def _run_row(platform_id: int, now: datetime, **columns: Any) -> dict[str, Any]:
    """A successful scheduled run, with the same restraint as ``_opportunity_row``."""
    return {
        "platform_id": platform_id,
        "trigger": "schedule",
        "outcome": "success",
        "started_at": now,
        "finished_at": now,
        **columns,
    }


def test_0002_clamps_out_of_range_intervals_and_keeps_every_row(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0001")
    # 0001 held the interval above zero only: the largest value the column can hold.
    huge = 2_147_483_647
    far_ahead = utcnow() + timedelta(days=365 * 4000)
    soon = utcnow() + timedelta(minutes=10)
    with empty_engine.begin() as conn:
        ids = {
            row["name"]: conn.execute(insert(platforms).values(**row).returning(platforms.c.id)).scalar_one()
            for row in (
                _platform_row("fine", 30, next_collection_at=soon),
                _platform_row("longest", MAX_INTERVAL_MINUTES, next_collection_at=soon),
                _platform_row("one too many", MAX_INTERVAL_MINUTES + 1, next_collection_at=soon),
                _platform_row("huge", huge, next_collection_at=far_ahead),
            )
        }
        now = utcnow()
        for platform_id in ids.values():
            conn.execute(
                insert(opportunities).values(
                    **_opportunity_row(platform_id, collected_at=now, updated_at=now)
                )
            )
            conn.execute(insert(runs).values(**_run_row(platform_id, now)))

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.connect() as conn:
        stored = {
            row.name: (row.collection_interval_minutes, row.next_collection_at)
            for row in conn.execute(select(platforms))
        }
        children = [
            conn.execute(select(table.c.platform_id).order_by(table.c.platform_id)).scalars().all()
            for table in (opportunities, runs)
        ]
    # In range: untouched. Out of range: clamped to the longest interval and due at once.
    assert stored["fine"][0] == 30 and stored["longest"][0] == MAX_INTERVAL_MINUTES
    assert abs(stored["fine"][1] - soon) < timedelta(seconds=1)
    assert stored["one too many"] == (MAX_INTERVAL_MINUTES, None)
    assert stored["huge"] == (MAX_INTERVAL_MINUTES, None)
    # Nothing was lost on the way.
    assert children == [sorted(ids.values())] * 2

    # Now the database refuses what 0001 let in, and 0002's downgrade lets it in again.
    with pytest.raises(DBAPIError, match="ck_freelance_platforms_interval"), empty_engine.begin() as conn:
        conn.execute(insert(platforms).values(**_platform_row("refused", MAX_INTERVAL_MINUTES + 1)))
    migrate.downgrade(empty_engine, "0001")
    with empty_engine.begin() as conn:
        conn.execute(insert(platforms).values(**_platform_row("allowed again", MAX_INTERVAL_MINUTES + 1)))
    with pytest.raises(DBAPIError, match="ck_freelance_platforms_interval"), empty_engine.begin() as conn:
        conn.execute(insert(platforms).values(**_platform_row("still refused", 0)))


def test_0003_adds_budget_period_and_filtered_keeping_every_row(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0002")
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = _held_platform(conn)
        # Core inserts name only the columns given (and those with Python defaults): the same
        # statements a 0002 collector ran, so they work on a table without the new columns.
        conn.execute(
            insert(opportunities).values(
                **_opportunity_row(platform_id, client_budget=75, client_currency="USD")
            )
        )
        conn.execute(insert(runs).values(**_run_row(platform_id, now, fetched=3, inserted=1)))

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.connect() as conn:
        opportunity = conn.execute(select(opportunities)).one()
        run = conn.execute(select(runs)).one()
    # Old rows keep their values; the new columns read "unknown period" and "nothing dropped".
    assert (opportunity.title, opportunity.client_budget, opportunity.budget_period) == ("Job", 75, None)
    assert (run.fetched, run.inserted, run.filtered) == (3, 1, 0)

    with empty_engine.begin() as conn:
        conn.execute(opportunities.update().values(budget_period="hour"))
        conn.execute(runs.update().values(filtered=2))
    migrate.downgrade(empty_engine, "0002")
    with empty_engine.connect() as conn:
        assert "budget_period" not in {
            c["name"] for c in inspect(conn).get_columns("freelance_opportunities")
        }
        assert "filtered" not in {c["name"] for c in inspect(conn).get_columns("collection_runs")}
        assert conn.execute(text("SELECT count(*) FROM freelance_opportunities")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM collection_runs")).scalar_one() == 1


def test_0004_adds_the_event_outbox_keeping_every_row(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0003")
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = _held_platform(conn)
        conn.execute(insert(opportunities).values(**_opportunity_row(platform_id, budget_period="hour")))
        conn.execute(insert(runs).values(**_run_row(platform_id, now, inserted=1, filtered=2)))

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.begin() as conn:
        assert conn.execute(select(opportunities.c.budget_period)).scalar_one() == "hour"
        assert conn.execute(select(runs.c.inserted, runs.c.filtered)).one() == (1, 2)
        # The new table takes an event, once per event_id.
        row = {
            "event_id": "e-1",
            "detail_type": "OpportunitiesCollected",
            "user_id": 1,
            "platform_id": platform_id,
            "run_id": 1,
            "detail": "{}",
            "created_at": now,
        }
        conn.execute(insert(event_outbox).values(**row))
        assert conn.execute(select(event_outbox.c.attempts, event_outbox.c.published_at)).one() == (0, None)
    with pytest.raises(DBAPIError, match=r"event_id|uq_event_outbox"), empty_engine.begin() as conn:
        conn.execute(insert(event_outbox).values(**row))
    indexes = {i["name"] for i in inspect(empty_engine).get_indexes("event_outbox")}
    assert {"ix_event_outbox_pending", "ix_event_outbox_published"} <= indexes

    migrate.downgrade(empty_engine, "0003")
    with empty_engine.connect() as conn:
        assert "event_outbox" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM freelance_opportunities")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM collection_runs")).scalar_one() == 1


# The revision 0005 upgrades from.
BEFORE_0005 = "0004"
TABLES_0005 = {"fetch_cache", "fetch_hosts", "fetch_host_leases"}


def test_0005_adds_the_shared_fetch_tables_keeping_every_row(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, BEFORE_0005)
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = conn.execute(
            insert(platforms)
            .values(**_platform_row("held", 60, etag='"v1"', last_modified="Tue, 01 Dec 2026 10:00:00 GMT"))
            .returning(platforms.c.id)
        ).scalar_one()
        conn.execute(insert(runs).values(**_run_row(platform_id, now)))

    migrate.upgrade(empty_engine, "0005")
    assert set(inspect(empty_engine).get_table_names()) >= TABLES_0005
    with empty_engine.begin() as conn:
        platform = conn.execute(select(platforms)).one()
        run = conn.execute(select(runs)).one()
        # Old rows keep their values; a run from before reads "not known" for its fetch.
        assert (platform.name, platform.etag, platform.last_modified) == (
            "held",
            '"v1"',
            "Tue, 01 Dec 2026 10:00:00 GMT",
        )
        assert run.shared_fetch is None
        conn.execute(runs.update().values(shared_fetch=True))
        conn.execute(
            insert(fetch_cache).values(
                key="k" * 64, source="rss", host="example.org", url="https://example.org/"
            )
        )
        conn.execute(insert(fetch_hosts).values(host="example.org", max_concurrent=1, updated_at=now))
        conn.execute(insert(fetch_host_leases).values(host="example.org", owner="o", expires_at=now))
    with pytest.raises(DBAPIError, match="ck_fetch_hosts_concurrent"), empty_engine.begin() as conn:
        conn.execute(insert(fetch_hosts).values(host="zero.example.org", max_concurrent=0, updated_at=now))

    migrate.downgrade(empty_engine, BEFORE_0005)
    assert not TABLES_0005 & set(inspect(empty_engine).get_table_names())
    with empty_engine.connect() as conn:
        assert "shared_fetch" not in {c["name"] for c in inspect(conn).get_columns("collection_runs")}
        assert conn.execute(text("SELECT count(*) FROM collection_runs")).scalar_one() == 1
        assert conn.execute(select(platforms.c.etag)).scalar_one() == '"v1"'


def test_0006_adds_dead_letters_to_the_outbox_keeping_every_row(empty_engine: Engine) -> None:
    migrate.upgrade(empty_engine, "0005")
    now = utcnow()
    # 0005's rows, written as 0005 knew the table: pending (refused 12 times already), published.
    columns = "event_id, detail_type, user_id, platform_id, run_id, detail, created_at"
    with empty_engine.begin() as conn:
        for event_id, attempts, published in (("pending", 12, None), ("published", 1, now)):
            conn.execute(
                text(
                    f"INSERT INTO event_outbox ({columns}, attempts, last_error, published_at) "
                    "VALUES (:e, 'OpportunitiesCollected', 1, 1, 1, '{}', :now, :a, 'refused', :p)"
                ),
                {"e": event_id, "now": now, "a": attempts, "p": published},
            )

    migrate.upgrade(empty_engine, "0006")
    with empty_engine.begin() as conn:
        rows = {
            row.event_id: row
            for row in conn.execute(
                select(
                    event_outbox.c.event_id,
                    event_outbox.c.attempts,
                    event_outbox.c.last_error,
                    event_outbox.c.published_at,
                    event_outbox.c.dead_lettered_at,
                )
            )
        }
        # Every row as it was; none dead-lettered by the upgrade, whatever its attempts.
        assert {
            k: (r.attempts, r.last_error, r.published_at, r.dead_lettered_at) for k, r in rows.items()
        } == {
            "pending": (12, "refused", None, None),
            "published": (1, "refused", now, None),
        }
        conn.execute(
            event_outbox.update().where(event_outbox.c.event_id == "pending").values(dead_lettered_at=now)
        )
    indexes = {i["name"]: i for i in inspect(empty_engine).get_indexes("event_outbox")}
    assert "ix_event_outbox_dead_lettered" in indexes
    assert "dead_lettered_at IS NULL" in str(indexes["ix_event_outbox_pending"]["dialect_options"])

    migrate.downgrade(empty_engine, "0005")
    with empty_engine.connect() as conn:
        assert not {"retry_at", "dead_lettered_at"} & {
            c["name"] for c in inspect(conn).get_columns("event_outbox")
        }
        # A dead-lettered row is pending again for 0005's publisher.
        assert (
            conn.execute(text("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")).scalar_one()
            == 1
        )


def _revision_0008() -> Any:
    import importlib

    return importlib.import_module(
        "charlee_collector.store.migrations.versions.0008_scores_profiles_duplicates"
    )


def test_0008_adds_profiles_scores_and_duplicate_links_keeping_every_row(empty_engine: Engine) -> None:
    """Rows stored before 0008 read NULL in the new columns; the first rescoring of their owner's
    profile scores and keys the open ones, after which a new copy of the job is linked to them."""
    from charlee_collector.app.scoring import rescore_user
    from charlee_collector.store.duplicates import link_duplicates
    from charlee_collector.store.profiles import save_profile_document

    before = _revision_0008().down_revision
    migrate.upgrade(empty_engine, before)
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = _held_platform(conn)
        for external_id, status in (("old-open", "new"), ("old-applied", "applied")):
            conn.execute(
                insert(opportunities).values(
                    **_opportunity_row(
                        platform_id,
                        external_id=external_id,
                        title="Senior Python Engineer",
                        client_name="Initech",
                        status=status,
                        collected_at=now,
                        updated_at=now,
                    )
                )
            )

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.begin() as conn:
        rows = conn.execute(
            select(opportunities.c.score, opportunities.c.title_key, opportunities.c.duplicate_of)
        ).all()
        assert rows == [(None, None, None)] * 2
        save_profile_document(conn, 1, {"skills": {"python": 5}}, now=now)
    assert rescore_user(empty_engine, 1, batch_size=1) == 1  # the open row only
    with empty_engine.begin() as conn:
        scored = dict(conn.execute(select(opportunities.c.external_id, opportunities.c.title_key)).all())
        assert scored == {"old-open": "senior python engineer", "old-applied": None}
        assert conn.execute(select(user_profiles.c.rescore_after_id)).scalar_one() is None
        copy_id = conn.execute(
            insert(opportunities)
            .values(
                **_opportunity_row(
                    platform_id,
                    external_id="copy",
                    title="SENIOR PYTHON ENGINEER!",
                    title_key="senior python engineer",
                    company_key="initech",
                    collected_at=now,
                    updated_at=now,
                )
            )
            .returning(opportunities.c.id)
        ).scalar_one()
        [link] = link_duplicates(conn, [copy_id])
        assert (link.reason, link.platform_name) == ("title_company", "held")
    with pytest.raises(DBAPIError, match="ck_freelance_opportunities_score"), empty_engine.begin() as conn:
        conn.execute(opportunities.update().values(score=101))

    migrate.downgrade(empty_engine, before)
    with empty_engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("freelance_opportunities")}
        assert not {"score", "score_reasons", "title_key", "duplicate_of"} & columns
        assert "user_profiles" not in inspect(conn).get_table_names()
        assert conn.execute(text("SELECT count(*) FROM freelance_opportunities")).scalar_one() == 3


def test_0009_adds_alert_rules_keeping_0008s_rows(empty_engine: Engine) -> None:
    """A database holding 0008's rows (a profile, a scored opportunity) upgrades with them
    untouched; the downgrade drops the rules and their deliveries and nothing else."""
    from charlee_collector.normalize.alert_rules import parse_alert_rule
    from charlee_collector.store.alert_rules import add_alert_rule, list_alert_rules
    from charlee_collector.store.profiles import save_profile_document

    migrate.upgrade(empty_engine, "0008")
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = _held_platform(conn)
        _scored_opportunity(conn, platform_id, "scored", now)
        save_profile_document(conn, 1, {"skills": {"python": 5}}, now=now)

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.begin() as conn:
        assert conn.execute(select(opportunities.c.score)).scalars().all() == [80]
        rule = parse_alert_rule({"channel": "ntfy", "secret": "charlee/s/ntfy", "min_score": 70})
        rule_id = add_alert_rule(conn, 1, rule, now=now)
        [stored] = list_alert_rules(conn, 1)
        assert (stored.id, stored.rule) == (rule_id, rule)
    with pytest.raises(DBAPIError, match="ck_alert_rules_mode"), empty_engine.begin() as conn:
        conn.execute(text("UPDATE alert_rules SET mode = 'sometimes'"))
    with empty_engine.begin() as conn:  # the key of "at most once": one row per rule, job, channel
        claim = (
            "INSERT INTO alert_deliveries (rule_id, opportunity_id, channel, state, source, claimed_at,"
            " lease_until, collected_at) SELECT :rule, id, 'ntfy', 'claimed', 'rss', now(), now(), now()"
            " FROM freelance_opportunities ON CONFLICT DO NOTHING"
        )
        assert conn.execute(text(claim), {"rule": rule_id}).rowcount == 1
        assert conn.execute(text(claim), {"rule": rule_id}).rowcount == 0

    migrate.downgrade(empty_engine, "0008")
    with empty_engine.connect() as conn:
        assert not {"alert_rules", "alert_deliveries"} & set(inspect(conn).get_table_names())
        assert conn.execute(select(user_profiles.c.user_id)).scalars().all() == [1]
        assert conn.execute(text("SELECT count(*) FROM freelance_opportunities")).scalar_one() == 1


def test_0010_moves_the_upsert_into_a_function_keeping_0009s_rows(empty_engine: Engine) -> None:
    """A database holding 0009's rows (an opportunity, an alert rule) upgrades with them untouched;
    the collector's upsert then inserts, rewrites a changed row and leaves an unchanged one; the
    downgrade drops the function and nothing else."""
    from charlee_collector.core.opportunity import Opportunity
    from charlee_collector.normalize.alert_rules import parse_alert_rule
    from charlee_collector.store.alert_rules import add_alert_rule
    from charlee_collector.store.opportunities import upsert_opportunities

    migrate.upgrade(empty_engine, "0009")
    now = utcnow()
    with empty_engine.begin() as conn:
        platform_id = _held_platform(conn)
        _scored_opportunity(conn, platform_id, "kept", now)
        add_alert_rule(conn, 1, parse_alert_rule({"channel": "ntfy", "secret": "charlee/s/ntfy"}), now=now)

    migrate.upgrade(empty_engine)
    assert migrate.current_revision(empty_engine) == HEAD
    with empty_engine.begin() as conn:
        assert conn.execute(select(opportunities.c.external_id, opportunities.c.score)).all() == [
            ("kept", 80)
        ]
        items = [
            Opportunity(external_id="new", title="New"),
            Opportunity(external_id="kept", title="Changed"),
        ]
        counts = upsert_opportunities(conn, platform_id=platform_id, user_id=1, items=items, now=now)
        assert (counts.inserted, counts.updated, counts.unchanged) == (1, 1, 0)
        again = upsert_opportunities(conn, platform_id=platform_id, user_id=1, items=items, now=now)
        assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
        titles = dict(conn.execute(select(opportunities.c.external_id, opportunities.c.title)).all())
        assert titles == {"kept": "Changed", "new": "New"}

    migrate.downgrade(empty_engine, "0009")
    with empty_engine.connect() as conn:
        functions = conn.execute(
            text("SELECT count(*) FROM pg_proc WHERE proname = 'upsert_opportunities_json'")
        ).scalar_one()
        assert functions == 0
        assert conn.execute(text("SELECT count(*) FROM freelance_opportunities")).scalar_one() == 2
        assert conn.execute(text("SELECT count(*) FROM alert_rules")).scalar_one() == 1
