"""The operator command, run as a real subprocess against PostgreSQL.

Each command costs a Python start-up (about a second), so one scenario walks through every
command once (on a database named by DATABASE_URL), and the tables and ``--check`` run on the
default database, the embedded PostgreSQL. ``--help`` on every command
runs in-process (the same ``main``), which costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, text

from charlee_collector_tools.cli import main
from tests.support.cli import FEED_ITEMS, Cli, local_cli, postgres_cli, rss
from tests.support.db import scratch_database

CLOSED = "http://127.0.0.1:9/feed.xml"  # nothing listens on the discard port: connection refused


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


@pytest.fixture
def default_cli(tmp_path: Path, embedded_home: Path, local_engine: Engine) -> Cli:
    """The command on its default database, the embedded PostgreSQL (emptied after the test)."""
    return local_cli(tmp_path, embedded_home)


def add(cli: Cli, name: str, url: str, *extra: str) -> int:
    config = json.dumps({"url": url})
    result = cli(
        "platforms", "add", "--user", "1", "--name", name, "--source", "rss", "--config", config, *extra
    )
    assert result.stdout.strip().isdigit(), f"stdout must be just the id, got {result.stdout!r}"
    return int(result.stdout)


def test_every_command(cli: Cli, http_server, tmp_path: Path) -> None:
    http_server.route("/feed.xml", body=rss(), content_type="application/rss+xml")
    good = add(cli, "Local feed", http_server.url("/feed.xml"), "--interval", "30")
    config_file = tmp_path / "broken.json"
    config_file.write_text(json.dumps({"url": CLOSED, "keywords": ["python"]}))
    broken = int(
        cli(
            "platforms", "add", "--user", "1", "--name", "Closed port", "--source", "rss",
            "--config-file", str(config_file), "--no-auto-collect",
        ).stdout
    )  # fmt: skip

    listed = {p["id"]: p for p in cli.json("platforms", "list")}
    assert (listed[good]["collection_interval_minutes"], listed[good]["auto_collect"]) == (30, True)
    assert listed[broken]["config"] == {"url": CLOSED, "keywords": ["python"]}

    # The tick without a queue: the due platform (not the manual one) is claimed and collected here.
    assert [d["id"] for d in cli.json("dispatch", "--dry-run")] == [good]
    assert [(r["platform_id"], r["outcome"], r["inserted"]) for r in cli.json("dispatch")] == [
        (good, "success", 3)
    ]

    failed = cli("collect", str(broken), expect=1)
    assert "failed" in failed.stdout and "127.0.0.1" in failed.stdout

    found = cli.json("opportunities", "--search", "ELIXIR", "--since", "2026-06-01", "--platform", str(good))
    assert [o["title"] for o in found] == [FEED_ITEMS[0][0]]
    assert "raw" not in found[0] and found[0]["url"] == "https://example.org/jobs/0"

    assert [(r["platform_id"], r["outcome"]) for r in cli.json("runs", "--limit", "5")] == [
        (broken, "failed"),
        (good, "success"),
    ]

    cli("platforms", "update", str(good), "--name", "Renamed", "--interval", "5", "--no-auto-collect")
    cli("platforms", "pause", str(broken), "--reason", "too noisy")
    status = cli.json("status")
    assert [p["id"] for p in status["paused"]] == [broken] and "too noisy" in status["paused"][0][
        "last_error"
    ]
    assert status["due"] == [] and len(status["last_runs"]) == 2 and status["queues"] is None
    shown = cli.json("platforms", "show", str(good))
    assert (shown["name"], shown["collection_interval_minutes"], shown["opportunities"]) == ("Renamed", 5, 3)

    cli("platforms", "resume", str(broken))
    cli("platforms", "remove", str(broken), "--yes")
    assert f"platform {broken} not found" in cli("platforms", "show", str(broken), expect=1).stderr


def test_tables_on_the_local_default_database(
    default_cli: Cli, http_server, tmp_path: Path, local_engine: Engine
) -> None:
    local_cli = default_cli
    http_server.route("/feed.xml", body=rss())
    pid = add(local_cli, "Local feed", http_server.url("/feed.xml"))
    with local_engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM freelance_platforms")).scalars().all() == ["Local feed"]
    assert not (tmp_path / ".charlee-collector").exists(), "the default database is in CHARLEE_HOME"

    collected = local_cli("collect", "--user", "1")
    assert "success" in collected.stdout and "Local feed" in collected.stdout
    assert "Globex: Python Freelancer" in local_cli("opportunities", "--limit", "1").stdout
    assert "Local feed" in local_cli("platforms", "list").stdout
    assert "Last runs" in local_cli("status").stdout and "success" in local_cli("status").stdout
    assert "feed.xml" in local_cli("platforms", "show", str(pid)).stdout


def test_add_check_fetches_and_stores_nothing(tmp_path: Path, http_server) -> None:
    # A CHARLEE_HOME of its own with no server in it: --check must not start one.
    local_cli = Cli(tmp_path, {"COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"})
    http_server.route("/feed.xml", body=rss())
    http_server.route("/gone.xml", status=404)
    args = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--check", "--config"]

    checked = local_cli(*args, json.dumps({"url": http_server.url("/feed.xml")}), "--show", "2")
    assert FEED_ITEMS[0][0] in checked.stdout and "3 opportunities" in checked.stderr
    assert "nothing was stored" in checked.stderr

    failed = local_cli(*args, json.dumps({"url": http_server.url("/gone.xml")}), expect=1)
    assert "check failed" in failed.stderr and "404" in failed.stderr
    assert not (tmp_path / "charlee" / "pgdata").exists(), "--check does not even open the database"


def test_postgres_without_schema_says_run_migrate(postgres_server_url: URL, tmp_path: Path) -> None:
    with scratch_database(postgres_server_url, "charlee_cli_empty") as empty:
        cli = Cli(tmp_path, {"DATABASE_URL": empty.render_as_string(hide_password=False)})
        assert "run `charlee-collector migrate`" in cli("platforms", "list", expect=1).stderr
        assert "at revision" in cli("migrate").stderr
        engine = create_engine(empty)
        try:
            with engine.connect() as conn:
                assert conn.execute(text("SELECT count(*) FROM freelance_platforms")).scalar() == 0
        finally:
            engine.dispose()


COMMANDS = [
    [],
    ["migrate"],
    ["platforms"],
    *[["platforms", c] for c in ("add", "list", "show", "update", "pause", "resume", "remove")],
    ["collect"],
    ["dispatch"],
    ["runs"],
    ["opportunities"],
    ["opportunities", "mark"],
    ["status"],
    ["dlq"],
    *[["dlq", c] for c in ("list", "delete", "purge", "redrive")],
    ["local"],
    ["local", "run"],
    ["local", "poll"],
    ["local", "stop"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "top")
def test_help_on_every_command(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert "Usage" in capsys.readouterr().out


def run_main(*argv: str) -> int:
    """The command in this process (for input errors, which need no subprocess to be believed)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    return int(exit_info.value.code or 0)


def test_input_errors_exit_2_and_not_found_exits_1(
    monkeypatch: pytest.MonkeyPatch,
    embedded_home: Path,
    local_engine: Engine,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHARLEE_HOME", str(embedded_home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    add_rss = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--config"]

    def check(code: int, argv: list[str], *fragments: str) -> None:
        assert run_main(*argv) == code, argv
        captured = capsys.readouterr()
        for fragment in fragments:
            assert fragment in captured.err, (argv, captured.err)
        assert "Traceback" not in captured.err

    check(2, [*add_rss, '{"uri": "https://x"}'], "'url'", "'uri'", "Field required")
    check(
        2,
        ["platforms", "add", "--user", "1", "--name", "x", "--source", "nope"],
        "unknown source 'nope'",
        "remoteok",
    )
    check(2, [*add_rss, "{not json"], "--config is not valid JSON")
    check(2, [*add_rss, "[1]"], "must be a JSON object")
    check(2, ["platforms", "add", "--user", "x", "--name", "x", "--source", "rss"], "--user")
    check(2, ["collect"], "PLATFORM_ID or --user")
    check(2, ["local", "run", "--every", "soon"], "--every")
    check(2, ["opportunities", "--since", "yesterday"], "--since")
    check(0, [*add_rss, '{"url": "https://example.org/feed.xml"}'])
    check(2, ["platforms", "update", "1", "--config", '{"url": "ftp://x"}'], "'url'")
    check(2, ["platforms", "update", "1"], "nothing to update")
    check(2, ["platforms", "remove", "1"], "--yes")  # stdin is not a terminal
    check(1, ["platforms", "pause", "99"], "platform 99 not found")
    check(1, ["collect", "--user", "7"], "user 7 has no active platforms")
    check(2, ["nope"], "No such command")
