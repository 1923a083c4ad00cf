"""One platform's interval cannot stop the others (issue 10, item 10).

``collection_interval_minutes`` is bounded (1 to 43,200 minutes: 30 days) wherever it is set:
the CLI refuses anything else with one line and exit 2, and the database refuses it too (a
CHECK, migration 0002). A row already out of range (written
before the bound existed) is collected at the bound: ``dispatch``, ``collect`` and ``local run``
go on collecting every platform, run as real subprocesses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError

from charlee_collector.core.clock import utcnow
from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.cli import main
from tests.support.cli import Cli, rss
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

LONGEST = timedelta(minutes=MAX_INTERVAL_MINUTES)
SLACK = timedelta(minutes=5)  # generous: the commands take seconds
# The largest value the column (an int4) holds.
HUGE = 2_147_483_647
CONSTRAINT = "ck_freelance_platforms_interval"


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    """The database at head, with the interval guard taken away so that a test can write the row
    an older schema would have held; the guard comes back after."""
    pg: Engine = request.getfixturevalue("pg_engine")
    with pg.begin() as conn:
        conn.execute(text(f"ALTER TABLE freelance_platforms DROP CONSTRAINT {CONSTRAINT}"))
    try:
        yield pg
    finally:
        with pg.begin() as conn:
            conn.execute(
                text(
                    f"DELETE FROM freelance_platforms WHERE collection_interval_minutes > {MAX_INTERVAL_MINUTES}"
                )
            )
            conn.execute(
                text(
                    f"ALTER TABLE freelance_platforms ADD CONSTRAINT {CONSTRAINT} "
                    f"CHECK (collection_interval_minutes BETWEEN 1 AND {MAX_INTERVAL_MINUTES})"
                )
            )


@pytest.fixture
def cli(engine: Engine, request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    url = request.getfixturevalue("postgres_url").render_as_string(hide_password=False)
    return Cli(tmp_path, {"DATABASE_URL": url, "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"})


def _rss_platform(engine: Engine, http_server: LocalHTTPServer, name: str, interval: int) -> int:
    http_server.route(f"/{name}.xml", body=rss(), content_type="application/rss+xml")
    with engine.begin() as conn:
        return add_platform(
            conn,
            name=name,
            config={"url": http_server.url(f"/{name}.xml")},
            collection_interval_minutes=interval,
        )


def _outcomes(engine: Engine, platform_id: int) -> list[str]:
    with engine.connect() as conn:
        query = select(runs.c.outcome).where(runs.c.platform_id == platform_id).order_by(runs.c.id)
        return list(conn.execute(query).scalars())


def _next_collection(engine: Engine, platform_id: int) -> object:
    with engine.connect() as conn:
        return conn.execute(
            select(platforms.c.next_collection_at).where(platforms.c.id == platform_id)
        ).scalar_one()


def test_an_out_of_range_interval_stops_no_command(
    engine: Engine, cli: Cli, http_server: LocalHTTPServer
) -> None:
    good = _rss_platform(engine, http_server, "good", 15)
    bad = _rss_platform(engine, http_server, "bad", HUGE)

    collected = cli.json("dispatch")
    assert sorted((r["platform_id"], r["outcome"]) for r in collected) == [
        (good, "success"),
        (bad, "success"),
    ]
    # Collected at the longest interval, not centuries (or never) from now.
    assert _next_collection(engine, bad) <= utcnow() + LONGEST + SLACK

    assert "success" in cli("collect", "--user", "1").stdout
    local = cli.json("local", "run", "--force", "--no-seed")
    assert sorted((r["platform_id"], r["outcome"]) for r in local) == [(good, "success"), (bad, "success")]

    assert _outcomes(engine, good) == _outcomes(engine, bad) == ["success"] * 3


ADD_RSS = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--config"]
CONFIG = json.dumps({"url": "https://example.org/feed.xml"})


def _one_line(stderr: str) -> str:
    [line] = stderr.strip().splitlines()
    return line


def test_platforms_add_and_update_refuse_the_interval_in_one_line(cli: Cli, engine: Engine) -> None:
    refused = cli(*ADD_RSS, CONFIG, "--interval", "99999999999", expect=2)
    assert refused.stdout == ""
    expected = f"error: --interval must be 1 to {MAX_INTERVAL_MINUTES} minutes (30 days), got 99999999999"
    assert _one_line(refused.stderr) == expected
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(platforms)).scalar_one() == 0

    with engine.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=MAX_INTERVAL_MINUTES)
    refused = cli("platforms", "update", str(platform_id), "--interval", "99999999999", expect=2)
    assert _one_line(refused.stderr) == expected
    with engine.connect() as conn:
        stored = select(platforms.c.collection_interval_minutes).where(platforms.c.id == platform_id)
        assert conn.execute(stored).scalar_one() == MAX_INTERVAL_MINUTES


@pytest.mark.parametrize("interval", ["0", "-5", str(MAX_INTERVAL_MINUTES + 1)])
def test_every_out_of_range_interval_is_refused_in_one_line(
    interval: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same check in this process (an input error needs no subprocess to be believed)."""
    monkeypatch.setenv("CHARLEE_HOME", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    for argv in (
        [*ADD_RSS, CONFIG, "--interval", interval],
        ["platforms", "update", "1", "--interval", interval],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        line = _one_line(capsys.readouterr().err)
        assert f"1 to {MAX_INTERVAL_MINUTES} minutes" in line and interval in line


@pytest.mark.parametrize("interval", [0, MAX_INTERVAL_MINUTES + 1, 2_147_483_647])
def test_the_database_refuses_an_out_of_range_interval(interval: int, pg_engine: Engine) -> None:
    """Whatever writes the row (an import, a script, the app): inserts and updates alike."""
    guarded = pg_engine
    now = utcnow()
    row = {"user_id": 1, "name": "x", "source": "rss", "config": {}, "created_at": now, "updated_at": now}
    with pytest.raises(DBAPIError, match=CONSTRAINT), guarded.begin() as conn:
        conn.execute(insert(platforms).values(**row, collection_interval_minutes=interval))
    with guarded.begin() as conn:
        platform_id = add_platform(conn, collection_interval_minutes=MAX_INTERVAL_MINUTES)
    with pytest.raises(DBAPIError, match=CONSTRAINT), guarded.begin() as conn:
        conn.execute(
            platforms.update()
            .where(platforms.c.id == platform_id)
            .values(collection_interval_minutes=interval)
        )
