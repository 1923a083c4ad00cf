"""What the command prints is what is stored (issue #25): values are never read as rich markup
or emoji codes, a pipe or a file gets whole cells one row per line, and every message says what
happened (an unknown source, a filter matching nothing, a paused platform resumed by ``collect``,
the fields ``update`` changed, a command typed as its synonym, an unlimited host, a host without an
override). Real commands in a subprocess (stdout is a pipe), on the test run's PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, select, update

from charlee_collector.core.clock import utcnow
from charlee_collector.sources import SOURCE_KEYS
from charlee_collector.store.tables import platforms, runs
from tests.support.cli import Cli, postgres_cli, rss
from tests.support.factories import add_platform

# A name, an ARN, an error and a title as a user, AWS or a provider may give them: each holds
# rich markup (``[bold]``, ``[/]``, ``[link=...]``) and emoji codes (``:rocket:``, ``:secret:``).
NAME = "[Remote] Jobs :rocket: [bold]x[/bold]"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:charlee/prod/x"
ERROR = "HTTP 500 from [link=https://evil.example]api[/link] :fire: [red]boom[/] :secret:"
TITLE = "[b]Python[/b] dev :smile: [/]"
RENDERED = ("🚀", "㊙", "🔥", "😄")  # what rich would have made of the emoji codes

LONG_ERROR = "timeout talking to upstream " + "x" * 400 + " END-OF-ERROR"


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Cli:
    return postgres_cli(request, tmp_path)


def add_run(engine: Engine, platform_id: int, error: str) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(runs).values(
                platform_id=platform_id,
                trigger="schedule",
                started_at=now - timedelta(seconds=2),
                finished_at=now,
                outcome="failed",
                duration_ms=2000,
                error=error,
            )
        )


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def rendered_nothing(*outputs: str) -> None:
    for output in outputs:
        assert not any(mark in output for mark in RENDERED), output


# --- item 1: values are printed as stored --------------------------------------------------------


def test_values_with_markup_and_emoji_codes_are_printed_as_stored(
    cli: Cli, pg_engine: Engine, http_server
) -> None:
    http_server.route("/feed.xml", body=rss([(TITLE, "Mon, 01 Jun 2026 10:00:00 +0000")]))
    config = json.dumps({"url": http_server.url("/feed.xml")})
    added = cli(
        "platforms", "add", "--user", "1", "--name", NAME, "--source", "rss", "--config", config,
        "--credentials-secret", ARN,
    )  # fmt: skip
    assert f"({NAME}, rss)" in added.stderr
    pid = int(added.stdout)

    shown = cli("platforms", "show", str(pid)).stdout
    assert f"│ {ARN} " in shown and f"│ {NAME} " in shown
    assert f"│ {NAME} " in cli("platforms", "list").stdout
    assert f"│ {NAME} " in cli("dispatch", "--dry-run").stdout

    with pg_engine.begin() as conn:  # the ARN names no secret here: collect the feed without one
        conn.execute(update(platforms).where(platforms.c.id == pid).values(credentials_secret=None))
    collected = cli("collect", str(pid))
    assert f"│ {NAME} " in collected.stdout
    assert f"│ {TITLE} " in cli("opportunities").stdout
    assert f"1 new on {NAME}" in cli("events", "list").stdout

    add_run(pg_engine, pid, ERROR)
    with pg_engine.begin() as conn:
        conn.execute(
            update(platforms).where(platforms.c.id == pid).values(consecutive_failures=1, last_error=ERROR)
        )
    assert f"{pid} {NAME}" in cli("runs").stdout and ERROR in cli("runs").stdout
    status = cli("status").stdout
    assert f"│ {ERROR} " in status and f"│ {NAME} " in status
    assert ERROR in cli("platforms", "show", str(pid)).stdout

    rendered_nothing(added.stderr, shown, collected.stdout, status)


def test_an_error_line_carries_the_value_as_given(cli: Cli) -> None:
    result = cli("platforms", "add", "--user", "1", "--name", "x", "--source", NAME, expect=2)
    assert f"unknown source {NAME!r}" in one_line(result.stderr)
    rendered_nothing(result.stderr)

    unknown = cli("opportunities", "--search", "x", "--status", ":secret: [bold]", expect=2)
    assert one_line(unknown.stderr).endswith("got ':secret: [bold]'")


# --- item 2: a pipe gets whole cells, one row per line -------------------------------------------


def test_piped_tables_carry_whole_errors_one_row_per_line(cli: Cli, pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        pid = add_platform(conn, name="Flaky feed", consecutive_failures=2, last_error=LONG_ERROR)
    add_run(pg_engine, pid, LONG_ERROR.replace(" END", "\n END"))  # a line break becomes a space

    for args in (["runs"], ["status"], ["platforms", "show", str(pid)]):
        shown = cli(*args).stdout
        assert "…" not in shown, args
        rows = [line for line in shown.splitlines() if "END-OF-ERROR" in line]
        assert rows and all(LONG_ERROR in row for row in rows), args
        assert all("Flaky feed" in row for row in rows) or args[0] == "platforms", args


# --- item 3: saying what happened ----------------------------------------------------------------


def test_platforms_list_says_which_source_and_which_filter(cli: Cli, pg_engine: Engine) -> None:
    assert cli("platforms", "list").stderr.startswith("no platforms yet")

    unknown = cli("platforms", "list", "--source", "xyz", expect=2)
    assert unknown.stdout == ""
    line = one_line(unknown.stderr)
    assert line.startswith("error: unknown source 'xyz': --source must be one of ")
    assert all(key in line for key in SOURCE_KEYS)

    with pg_engine.begin() as conn:
        add_platform(conn)
    nothing = cli("platforms", "list", "--user", "999")
    assert nothing.stdout == ""
    assert one_line(nothing.stderr) == (
        "no platform matches --user 999 (1 platform(s) in all: `charlee-collector platforms list`)"
    )
    both = cli("platforms", "list", "--user", "1", "--source", "remotive")
    assert one_line(both.stderr).startswith("no platform matches --user 1 --source remotive ")
    assert cli.json("platforms", "list", "--user", "999") == []


def test_collect_says_it_resumed_a_paused_platform(cli: Cli, pg_engine: Engine, http_server) -> None:
    http_server.route("/feed.xml", body=rss())
    with pg_engine.begin() as conn:
        paused = add_platform(
            conn, config={"url": http_server.url("/feed.xml")}, paused_at=utcnow(), last_error="paused"
        )
        failing = add_platform(conn, paused_at=utcnow(), last_error="paused")  # a closed port
        running = add_platform(conn, config={"url": http_server.url("/feed.xml")})

    collected = cli("collect", str(paused))
    assert one_line(collected.stderr) == (
        f"resumed platform {paused}: it was paused, and this collection succeeded "
        f"(`charlee-collector platforms pause {paused}` pauses it again)"
    )
    assert cli("collect", str(failing), expect=1).stderr.strip() == ""  # still paused: nothing to say
    assert cli("collect", str(running)).stderr.strip() == ""
    with pg_engine.connect() as conn:
        still = dict(conn.execute(select(platforms.c.id, platforms.c.paused_at)).all())
    assert still[paused] is None and still[failing] is not None


def test_update_names_only_what_it_changed(cli: Cli, pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        pid = add_platform(conn, name="Feed", etag='"v1"')
    same_config = json.dumps({"url": "http://127.0.0.1:9/feed.xml"})

    changed = cli(
        "platforms", "update", str(pid), "--name", "Feed", "--interval", "30", "--auto-collect",
        "--source", "rss", "--config", same_config,
    )  # fmt: skip
    assert one_line(changed.stderr) == f"updated platform {pid}: collection_interval_minutes"
    with pg_engine.connect() as conn:
        assert conn.execute(select(platforms.c.etag).where(platforms.c.id == pid)).scalar() == '"v1"'

    unchanged = cli("platforms", "update", str(pid), "--name", "Feed", "--interval", "30")
    assert one_line(unchanged.stderr) == f"platform {pid} unchanged: it already had every value given"

    config = cli(
        "platforms", "update", str(pid), "--name", "New", "--config", '{"url": "http://127.0.0.1:9/b"}'
    )
    assert one_line(config.stderr) == f"updated platform {pid}: config, name"
    with pg_engine.connect() as conn:
        assert conn.execute(select(platforms.c.etag).where(platforms.c.id == pid)).scalar() is None


# --- item 4: smaller ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["platforms", "delete", "1"], "No such command 'delete'; did you mean 'remove'?"),
        (["platforms", "rm", "1"], "No such command 'rm'; did you mean 'remove'?"),
        (["platforms", "lsit"], "No such command 'lsit'; did you mean 'list'?"),
        (["platfroms", "list"], "No such command 'platfroms'; did you mean 'platforms'?"),
        (["hosts", "unset", "x.org"], "No such command 'unset'; did you mean 'clear'?"),
        (["dlq", "rm", "ID"], "No such command 'rm'; did you mean 'delete'?"),
        (["platforms", "zzz"], "No such command 'zzz'."),
    ],
)
def test_a_mistyped_command_suggests_the_one_meant(tmp_path: Path, args: list[str], says: str) -> None:
    result = Cli(tmp_path)(*args, expect=2)
    assert result.stdout == ""
    assert one_line(result.stderr).startswith(f"error: {says} (see `charlee-collector ")


def test_hosts_say_unlimited_and_that_there_was_no_override(cli: Cli) -> None:
    assert (
        cli("hosts", "set", "127.0.0.1", "--min-spacing", "0").stdout
        == "127.0.0.1: unlimited at once, 0s apart\n"
    )
    listed = cli("hosts", "list").stdout
    [row] = [line for line in listed.splitlines() if "127.0.0.1" in line]
    assert row.split("│")[2].strip() == "unlimited" and "1000000" not in listed
    hosts = {h["host"]: h for h in cli.json("hosts", "list")}
    assert hosts["127.0.0.1"]["max_concurrent"] == 1_000_000  # JSON keeps the number

    cleared = cli("hosts", "clear", "feeds.example.org")
    assert cleared.stdout == ""
    assert one_line(cleared.stderr).startswith(
        "feeds.example.org has no override: nothing to clear (it keeps 2 at once, 1s apart: ours"
    )
    assert "feeds.example.org" not in cli("hosts", "list").stdout  # clearing wrote no row


LISTINGS = [
    ["platforms", "list"],
    ["runs"],
    ["opportunities"],
    ["dispatch", "--dry-run"],
    ["dispatch"],
    ["events", "list"],
    ["hosts", "list"],
    ["local", "run", "--no-seed"],
]


@pytest.mark.parametrize("args", LISTINGS, ids=" ".join)
def test_every_listing_prints_one_json_array(cli: Cli, args: list[str]) -> None:
    listed = cli.json(*args)
    assert isinstance(listed, list), listed
    assert all(isinstance(row, dict) for row in listed), listed


def test_hosts_list_json_ends_with_the_limit_of_every_other_host(cli: Cli) -> None:
    *hosts, everyone_else = cli.json("hosts", "list")
    assert "remotive.com" in {h["host"] for h in hosts}
    assert everyone_else["host"] == "*"
    assert (everyone_else["max_concurrent"], everyone_else["min_spacing_seconds"]) == (2, 1.0)
    assert everyone_else["next_request_at"] is None and everyone_else["retry_after_until"] is None
