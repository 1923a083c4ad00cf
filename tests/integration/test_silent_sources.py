"""A source that goes silent is a fault: ``status`` and ``platforms show`` flag it.

The rule is store/silence.py's (its unit test holds the arithmetic); here the runs come from
``collection_runs`` on PostgreSQL and the command runs in a subprocess.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from charlee_collector.core.clock import utcnow
from charlee_collector.store.silence import Silence, silent_platforms
from tests.support.cli import Cli, postgres_cli, rss
from tests.support.factories import add_platform, add_runs


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def test_only_successful_runs_of_scheduled_platforms_count(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        quiet = add_platform(conn, name="Quiet")
        add_runs(conn, quiet, [19, 21, 0, 0, 0])
        # Unchanged (304) and failed runs say nothing of what a source yields: they do not break the row.
        add_runs(conn, quiet, [0, 0], outcome="not_modified")
        add_runs(conn, quiet, [0], outcome="failed")
        healthy = add_platform(conn, name="Healthy")
        add_runs(conn, healthy, [19, 0, 0, 4])
        paused = add_platform(conn, name="Paused", paused_at=utcnow())
        add_runs(conn, paused, [19, 0, 0, 0])

    with pg_engine.connect() as conn:
        assert silent_platforms(conn) == [Silence(quiet, (0, 0, 0), 20.0)]
        # Asked by id (platforms show), a paused platform's runs are judged too.
        assert silent_platforms(conn, [paused, healthy]) == [Silence(paused, (0, 0, 0), 19.0)]


def test_status_and_show_flag_a_source_that_went_silent(cli: Cli, pg_engine: Engine, http_server) -> None:
    # The feed served items before; now it serves an empty channel, and the last runs fetched nothing.
    http_server.route("/feed.xml", body=rss([]))
    with pg_engine.begin() as conn:
        quiet = add_platform(conn, name="Gone quiet", config={"url": http_server.url("/feed.xml")})
        add_runs(conn, quiet, [19, 19, 0, 0])
        fine = add_platform(conn, name="Fine", auto_collect=False)
        add_runs(conn, fine, [19, 19, 0, 0, 19])

    # The third empty run, collected for real.
    collected = cli.json("collect", str(quiet))
    assert [(r["outcome"], r["fetched"]) for r in collected] == [("success", 0)]

    status = cli("status")
    assert "2 platform(s); 0 due now, 0 failing, 0 paused, 1 silent" in status.stdout
    [row] = [line for line in status.stdout.splitlines() if "│ Gone quiet " in line]
    assert [cell.strip() for cell in row.strip("│ ").split("│")] == [
        str(quiet),
        "Gone quiet",
        "rss",
        "0, 0, 0",
        "19",
    ]
    assert status.stderr.strip().splitlines() == [
        "1 source(s) went silent: check each one's URL and what it serves (`charlee-collector platforms show ID`)"
    ]
    as_json = cli.json("status")["silent"]
    assert as_json == [
        {
            "id": quiet,
            "name": "Gone quiet",
            "source": "rss",
            "recent_fetched": [0, 0, 0],
            "usual_fetched": 19.0,
        }
    ]

    shown = cli("platforms", "show", str(quiet))
    assert "│ silent " in shown.stdout
    assert "yes: the last 3 successful runs fetched 0, 0, 0, usually 19" in shown.stdout
    assert cli.json("platforms", "show", str(quiet))["silent"] == {
        "recent_fetched": [0, 0, 0],
        "usual_fetched": 19.0,
    }
    assert cli.json("platforms", "show", str(fine))["silent"] is None
