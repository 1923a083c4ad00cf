"""Knowing what to type and seeing what happened: ``sources``, the hints, ``resume`` of a platform
that is not paused, "Due since", and UTC in the tables. Real commands in a subprocess, on the
test run's PostgreSQL database."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, select, update

from charlee_collector.core.clock import utcnow
from charlee_collector.normalize.filters import BaseSourceConfig
from charlee_collector.sources import REGISTRY, validate_config
from charlee_collector.store.tables import platforms
from tests.support.cli import Cli
from tests.support.factories import add_platform


@pytest.fixture
def cli(tmp_path: Path, pg_engine: Engine, postgres_url: URL) -> Cli:
    return Cli(tmp_path, {"DATABASE_URL": postgres_url.render_as_string(hide_password=False)})


# --- sources -------------------------------------------------------------------------------------


def test_sources_lists_every_source_one_line_each(cli: Cli) -> None:
    result = cli("sources")
    assert result.stderr == ""
    rows = [line for line in result.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[1].strip() for row in rows] == list(REGISTRY)
    for row, source in zip(rows, REGISTRY.values(), strict=True):
        assert row.split("│")[2].strip() == f"{source.min_interval_minutes}m"

    listed = cli.json("sources")
    assert [entry["name"] for entry in listed] == list(REGISTRY)
    assert all(entry["summary"] for entry in listed)


@pytest.mark.parametrize("name", ["remotive", "json_api", "lever", "smartrecruiters", "upwork"])
def test_sources_name_shows_the_schema_it_validates_with(cli: Cli, name: str) -> None:
    config = REGISTRY[name].Config
    info = cli.json("sources", name)
    assert [key["name"] for key in info["keys"]] == list(config.model_fields)
    for key in info["keys"]:
        field = config.model_fields[key["name"]]
        assert key["required"] is field.is_required(), key
        assert key["filter"] is (key["name"] in BaseSourceConfig.model_fields)
    assert info["schema"] == config.model_json_schema()
    assert info["min_interval_minutes"] == REGISTRY[name].min_interval_minutes
    validate_config(name, info["example"])

    shown = cli("sources", name).stdout
    for field in config.model_fields:
        assert f"│ {field} " in shown
    assert f"--config '{json.dumps(REGISTRY[name].example)}'" in shown


def test_upwork_says_how_to_get_its_credentials_and_how_long_its_data_stays(cli: Cli) -> None:
    info = cli.json("sources", "upwork")
    assert (info["oauth_tokens"], info["cache_hours"]) == (True, 24)
    shown = cli("sources", "upwork").stdout
    # The grant lives in the stack's oauth/ folder, the only secrets the collector may write.
    assert (
        "`charlee-collector upwork authorize --client-id ID --secret charlee/<stack>/oauth/upwork`" in shown
    )
    assert "--credentials-secret charlee/<stack>/oauth/upwork --config" in shown
    named = cli("sources", "upwork", env={"PLATFORM_SECRET_PREFIX": "charlee/jobs/"}).stdout
    assert "--credentials-secret charlee/jobs/oauth/upwork --config" in named
    assert "purged after that" in shown
    assert "OAuth2" not in cli("sources", "remotive").stdout


def test_remotive_shows_its_limits_and_defaults(cli: Cli) -> None:
    keys = {key["name"]: key for key in cli.json("sources", "remotive")["keys"]}
    assert keys["limit"]["limits"] == [">= 1", "<= 1000"]
    assert keys["limit"]["type"] == "integer | null"
    assert keys["url"]["default"] == "https://remotive.com/api/remote-jobs"
    assert keys["keywords"]["type"] == "list of string"
    assert keys["min_budget"]["type"] == "number | string | list of (number | string) | null"


def test_a_board_source_shows_board_or_url_and_the_board_pattern(cli: Cli) -> None:
    keys = {key["name"]: key for key in cli.json("sources", "greenhouse")["keys"]}
    assert keys["board"]["one_of_required"] == keys["url"]["one_of_required"] == ["board", "url"]
    assert keys["board"]["limits"] == ["matches ^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$"]
    assert keys["keywords"]["one_of_required"] is None
    shown = cli("sources", "greenhouse").stdout
    assert shown.count("one of board, url") == 2


def test_an_unknown_source_is_one_line(cli: Cli) -> None:
    result = cli("sources", "nope", expect=2)
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("error: unknown source 'nope': the platform's source must be one of arbeitnow, ")


def test_add_help_points_to_sources(cli: Cli) -> None:
    shown = " ".join(cli("platforms", "add", "--help").stdout.split())
    assert "`charlee-collector sources` lists them" in shown
    assert "`charlee-collector sources NAME` shows its keys" in shown


def test_add_defaults_to_the_sources_minimum_and_warns_below_it(cli: Cli, pg_engine: Engine) -> None:
    add = ["platforms", "add", "--user", "1", "--name", "r", "--source", "remotive"]
    polite = int(cli(*add).stdout)
    eager = cli(*add, "--interval", "30")
    warning, added = eager.stderr.splitlines()
    assert warning == (
        "warning: remotive asks for 360 minutes or more between collections: "
        f"{REGISTRY['remotive'].interval_terms}"
    )
    assert added == f"added platform {int(eager.stdout)} (r, remotive)"
    with pg_engine.connect() as conn:
        rows = conn.execute(select(platforms.c.id, platforms.c.collection_interval_minutes)).all()
    stored = {platform_id: minutes for platform_id, minutes in rows}
    assert stored == {polite: 360, int(eager.stdout): 30}


# --- hints -------------------------------------------------------------------------------------


def test_a_run_with_nothing_due_hints_force(cli: Cli) -> None:
    result = cli("local", "run", "--no-seed")
    assert result.stdout == (
        "nothing is due; next collection at - (--force collects every active platform now: "
        "`charlee-collector local run --force`)\n"
    )


def test_a_run_every_interval_hints_force_once(cli: Cli) -> None:
    """Idle ticks of ``local run --every`` each say nothing is due; only the first gives the hint."""
    running = subprocess.Popen(
        [sys.executable, "-m", "charlee_collector", "local", "run", "--no-seed", "--every", "1s"],
        env=cli.base_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    assert running.stdout is not None
    threading.Thread(target=lambda: [lines.put(line) for line in running.stdout or ()], daemon=True).start()
    try:
        printed = [lines.get(timeout=120) for _ in range(3)]  # three idle ticks
    finally:
        running.send_signal(signal.SIGINT)
        _, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr
    assert "Traceback" not in stderr and stderr.rstrip().endswith("stopped"), stderr
    assert printed == [
        "nothing is due; next collection at - (--force collects every active platform now: "
        "`charlee-collector local run --force`)\n",
        "nothing is due; next collection at -\n",
        "nothing is due; next collection at -\n",
    ]


# --- resume and Due since ------------------------------------------------------------------------


def test_resume_of_a_platform_that_is_not_paused_changes_nothing(cli: Cli, pg_engine: Engine) -> None:
    later = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, next_collection_at=later, consecutive_failures=2)
    result = cli("platforms", "resume", str(platform_id))
    assert (result.stdout, result.stderr) == (
        "",
        f"platform {platform_id} is not paused: nothing to resume\n",
    )
    with pg_engine.connect() as conn:
        row = conn.execute(select(platforms).where(platforms.c.id == platform_id)).mappings().one()
    assert (row["next_collection_at"], row["consecutive_failures"]) == (later, 2)


def test_a_resumed_platform_is_due_now_not_never_collected(cli: Cli, pg_engine: Engine) -> None:
    collected = (utcnow() - timedelta(hours=1)).replace(microsecond=0)
    with pg_engine.begin() as conn:
        resumed = add_platform(conn, name="resumed", last_collection_at=collected, paused_at=utcnow())
        fresh = add_platform(conn, name="fresh")
    assert cli("platforms", "resume", str(resumed)).stderr == f"resumed platform {resumed}\n"

    table = cli("dispatch", "--dry-run").stdout
    rows = {
        line.split("│")[3].strip(): line.split("│") for line in table.splitlines() if line.startswith("│")
    }
    assert rows["resumed"][5].strip() == "now"
    assert rows["resumed"][6].strip() == collected.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert rows["fresh"][5].strip() == "never collected"
    assert rows["fresh"][6].strip() == "never"
    assert f"{fresh}" in rows["fresh"][1]


# --- UTC ---------------------------------------------------------------------------------------


def test_every_time_in_a_table_says_utc(cli: Cli, pg_engine: Engine) -> None:
    at = utcnow().replace(microsecond=0)
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, last_collection_at=at, next_collection_at=at + timedelta(hours=1))
        conn.execute(update(platforms).values(last_error_at=at, consecutive_failures=1, last_error="boom"))
    stamp = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert stamp in cli("platforms", "list").stdout
    shown = cli("platforms", "show", str(platform_id)).stdout
    assert f"│ last collection      │ {stamp}" in shown
    assert f"│ last error at        │ {stamp}" in shown
    assert f"{stamp}" in cli("status").stdout
