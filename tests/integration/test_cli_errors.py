"""Expected errors of the operator command: one line on stderr, never wrapped, exit 1 or 2.

Each check runs the real command in a subprocess (``tests/support/cli.py``), on the test run's
PostgreSQL database (emptied after each test).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, func, select

from charlee_collector.app.messages import PLATFORM_IDS, USER_IDS
from charlee_collector.sources import SOURCE_KEYS
from charlee_collector.store.tables import platforms
from charlee_collector_tools.cli import app, main
from tests.support.cli import SCRUBBED_PREFIXES, Cli, Result
from tests.support.factories import add_platform

ROOT = Path(__file__).resolve().parents[2]


def one_line(result: Result) -> str:
    """The one line an expected error prints (stdout empty)."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    assert result.stdout == ""
    return lines[0]


@pytest.fixture
def cli(tmp_path: Path, pg_engine: Engine, postgres_url: URL) -> Cli:
    return Cli(tmp_path, {"DATABASE_URL": postgres_url.render_as_string(hide_password=False)})


@pytest.fixture
def in_process(
    tmp_path: Path,
    pg_engine: Engine,
    postgres_url: URL,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., str]:
    """The same ``main`` in this process, for the long lists of inputs (a subprocess per input
    would cost a second each): returns the one line on stderr after checking the exit code."""
    monkeypatch.setenv("DATABASE_URL", postgres_url.render_as_string(hide_password=False))
    monkeypatch.setenv("CHARLEE_HOME", str(tmp_path))

    def run(*argv: str, expect: int, env: dict[str, str] | None = None) -> str:
        with monkeypatch.context() as scoped:
            for name, value in (env or {}).items():
                scoped.setenv(name, value)
            with pytest.raises(SystemExit) as exit_info:
                main(list(argv))
        captured = capsys.readouterr()
        assert exit_info.value.code == expect, captured.err
        return one_line(Result(expect, captured.out, captured.err))

    return run


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(platforms)).scalar_one())


# --- databases -----------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["mysql://x@y/z", "postgresql+psycopg2://u@h/d", "oracle://u@h/d"])
def test_an_unsupported_database_url_names_the_supported_ones(tmp_path: Path, url: str) -> None:
    line = one_line(Cli(tmp_path, {"DATABASE_URL": url})("status", expect=2))
    scheme = url.split("://")[0]
    assert line.startswith(f"error: unsupported database URL scheme '{scheme}://': ")
    assert line.endswith(
        "Charlee Collector works with PostgreSQL (postgresql://user:password@host:5432/dbname)"
    )


SQLITE_ONE_LINE = (
    "and SQLite is no longer supported (Charlee Collector runs on PostgreSQL only): leave DATABASE_URL "
    "and --db unset for the embedded PostgreSQL, or give postgresql://USER:PASSWORD@HOST:5432/DBNAME"
)


@pytest.mark.parametrize(
    ("where", "value", "kind"),
    [
        ("--db", "sqlite:///collector.sqlite3", "a SQLite database"),
        ("--db", "SQLite+pysqlite:////tmp/x.db", "a SQLite database"),
        ("--db", "~/.charlee-collector/collector.sqlite3", "a file path"),
        ("--db", "collector.db", "a file path"),
        ("DATABASE_URL", "sqlite://", "a SQLite database"),
        ("DATABASE_URL", "/var/lib/charlee/collector.sqlite3", "a file path"),
    ],
)
def test_sqlite_or_a_file_path_is_one_line_saying_how_to_use_postgresql(
    tmp_path: Path, where: str, value: str, kind: str
) -> None:
    """SQLite was the local default before: a URL or path left from then is refused, exit 2,
    before anything is opened or created (no file, no embedded server)."""
    cli = Cli(tmp_path)
    if where == "--db":
        result = cli("--db", value, "platforms", "list", expect=2)
    else:
        result = cli("platforms", "list", expect=2, env={"DATABASE_URL": value})
    assert one_line(result) == f"error: {where} names {kind}, {SQLITE_ONE_LINE}"
    assert not (tmp_path / "charlee").exists()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://", "the PostgreSQL URL names no user: give postgresql://USER:PASSWORD@HOST:5432/DBNAME"),
        ("postgresql://127.0.0.1/charlee", "the PostgreSQL URL names no user"),
        ("postgresql://:SECRETPW@127.0.0.1/charlee", "the PostgreSQL URL names no user"),
        ("postgresql://u@127.0.0.1:99999/charlee", "the PostgreSQL URL's port 99999 is not a TCP port (1 to 65535)"),
        ("postgresql://u:SECRETPW@127.0.0.1:abc/charlee", "not a database URL (invalid literal for int() with base 10: 'abc')"),
        ("postgresql://u@[::1/charlee", "not a database URL ("),
        ("postgresql://u@127.0.0.1/charlee?sslmode=require", "the PostgreSQL URL's query (sslmode) is not understood by the pg8000 driver"),
    ],
)  # fmt: skip
def test_a_postgresql_url_pg8000_cannot_use_is_one_line_before_connecting(
    in_process: Callable[..., str], url: str, message: str
) -> None:
    """These were TypeError and ValueError tracebacks from pg8000 at the first connect."""
    line = in_process("status", expect=2, env={"DATABASE_URL": url})
    assert line.startswith(f"error: {message}"), line
    assert "SECRETPW" not in line


def _closed_port() -> int:
    with socket.socket() as sock:  # bound, never listening: connecting is refused
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_errors_say_where_and_what_the_server_said(tmp_path: Path, postgres_server_url: URL) -> None:
    host, port = postgres_server_url.host, postgres_server_url.port
    missing = postgres_server_url.set(database="doesnotexist_h12a")
    line = one_line(Cli(tmp_path, {"DATABASE_URL": missing.render_as_string(False)})("status", expect=1))
    assert line == (
        f"error: database error: PostgreSQL at {host}:{port}, database 'doesnotexist_h12a': "
        'database "doesnotexist_h12a" does not exist'
    )

    nobody = postgres_server_url.set(username="nobody_h12a", password=None)
    line = one_line(Cli(tmp_path, {"DATABASE_URL": nobody.render_as_string(False)})("status", expect=1))
    assert line.startswith(f"error: database error: PostgreSQL at {host}:{port}, database ")
    assert line.endswith('role "nobody_h12a" does not exist')

    closed = postgres_server_url.set(host="127.0.0.1", port=_closed_port())
    line = one_line(Cli(tmp_path, {"DATABASE_URL": closed.render_as_string(False)})("status", expect=1))
    assert line == (
        f"error: database error: PostgreSQL at 127.0.0.1:{closed.port}, database "
        f"'{postgres_server_url.database}': connection refused (is PostgreSQL running and listening "
        "on that port?)"
    )

    unknown = postgres_server_url.set(host="no-such-host.invalid")  # .invalid never resolves
    line = one_line(Cli(tmp_path, {"DATABASE_URL": unknown.render_as_string(False)})("status", expect=1))
    assert line.startswith(
        f"error: database error: PostgreSQL at no-such-host.invalid:{port}, database "
        f"'{postgres_server_url.database}': cannot resolve the host name ("
    )


# --- never wrapped -------------------------------------------------------------------------------


def test_stderr_is_never_wrapped_even_in_a_narrow_terminal(cli: Cli) -> None:
    refused = cli(
        "platforms", "add", "--user", "1", "--name", "x", "--source", "nope", expect=2, env={"COLUMNS": "40"}
    )
    line = one_line(refused)
    assert line.startswith("error: unknown source 'nope': the platform's source must be one of ")
    assert line.endswith("one of " + ", ".join(sorted(SOURCE_KEYS))) and len(line) > 80

    invalid = cli(
        "platforms", "add", "--user", "1", "--name", "x", "--source", "remotive",
        "--config", '{"keyword": ["python"]}', expect=2, env={"COLUMNS": "40"},
    )  # fmt: skip
    assert one_line(invalid) == (
        "error: invalid config for source 'remotive': field 'keyword': Extra inputs are not permitted; "
        "its keys are keywords, exclude_keywords, min_budget, max_age_days, url, search, category, limit"
    )


def test_a_usage_error_is_one_line_pointing_to_help(cli: Cli) -> None:
    assert one_line(cli("runs", "--bogus", expect=2)) == (
        "error: No such option: --bogus (see `charlee-collector runs --help`)"
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["platforms", "list", "--db", "postgresql://x@y/z"],
            "error: --db is an option of charlee-collector itself: put it before the command "
            "(charlee-collector --db URL platforms list)",
        ),
        (
            ["dlq", "list", "--db=postgresql://x@y/z"],
            "error: --db is an option of charlee-collector itself: put it before the command "
            "(charlee-collector --db URL dlq list)",
        ),
        (
            ["runs", "--version"],
            "error: --version is an option of charlee-collector itself: put it before the command "
            "(charlee-collector --version)",
        ),
    ],
)
def test_a_global_option_after_the_command_says_where_it_goes(
    cli: Cli, args: list[str], expected: str
) -> None:
    assert one_line(cli(*args, expect=2)) == expected


# --- addresses the fetch layer refuses -------------------------------------------------------------

METADATA = [
    "http://169.254.169.254/latest/meta-data/",
    "http://0xA9FEA9FE/",  # hex
    "http://2852039166/",  # decimal
    "http://169.254.43518/",  # inet_aton's short form
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped
    "http://[::ffff:a9fe:a9fe]/",  # the same, in hex
    "http://[fd00:ec2::254]/",  # AWS's IPv6 metadata host
]
PRIVATE = ["http://10.0.0.1/feed.xml", "http://127.0.0.1:8080/feed.xml", "http://localhost/feed.xml"]


def _add(cli: Cli, url: str, *, expect: int, env: dict[str, str] | None = None) -> Result:
    config = json.dumps({"url": url})
    return cli(
        "platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--config", config,
        expect=expect, env=env,
    )  # fmt: skip


def test_add_refuses_metadata_addresses_in_every_form_even_with_private_networks_allowed(
    cli: Cli, in_process: Callable[..., str], pg_engine: Engine
) -> None:
    allowed = {"COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"}
    lines = [one_line(_add(cli, METADATA[0], expect=2, env=allowed))]
    for url in METADATA[1:]:
        config = json.dumps({"url": url})
        args = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--config", config]
        lines.append(in_process(*args, expect=2, env=allowed))
    for url, line in zip(METADATA, lines, strict=True):
        assert line.startswith("error: config field 'url': refused to fetch from host "), url
        assert line.endswith("a cloud metadata address, which is never fetched"), url
    assert _count(pg_engine) == 0


def test_add_and_update_refuse_private_addresses_unless_allowed(
    cli: Cli, in_process: Callable[..., str], pg_engine: Engine
) -> None:
    private = "not a public address (set COLLECTOR_ALLOW_PRIVATE_NETWORKS=true only for local runs)"
    assert private in one_line(_add(cli, PRIVATE[0], expect=2))
    for url in PRIVATE[1:]:
        config = json.dumps({"url": url})
        args = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--config", config]
        assert private in in_process(*args, expect=2), url
    assert _count(pg_engine) == 0

    allowed = _add(cli, PRIVATE[0], expect=0, env={"COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"})
    platform_id = int(allowed.stdout)
    update = ["platforms", "update", str(platform_id), "--config"]
    assert private in one_line(cli(*update, json.dumps({"url": PRIVATE[1]}), expect=2))
    line = in_process(
        *update, json.dumps({"url": METADATA[1]}), expect=2, env={"COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true"}
    )
    assert line.endswith("a cloud metadata address, which is never fetched")
    with pg_engine.connect() as conn:
        stored = conn.execute(select(platforms.c.config).where(platforms.c.id == platform_id)).scalar_one()
    assert stored == {"url": PRIVATE[0]}


def test_a_host_name_is_left_to_the_fetch_layer(cli: Cli) -> None:
    """Names are judged at every fetch (where the answer counts), not looked up at add time."""
    assert _add(cli, "http://feeds.example.invalid/jobs.rss", expect=0).stdout.strip().isdigit()


# --- ids and platforms that do not exist ------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["opportunities", "--user", "-1"], f"'--user': a user id must be an integer from 1 to {USER_IDS.high}, got -1"),
        (["platforms", "add", "--user", "0", "--name", "x", "--source", "rss"], "'--user': a user id must be"),
        (["platforms", "list", "--user", "0"], "'--user': a user id must be"),
        (["collect", "--user", str(2**63)], "'--user': a user id must be"),
        (["runs", "--platform", "0"], f"'--platform': a platform id must be an integer from 1 to {PLATFORM_IDS.high}"),
        (["opportunities", "--platform", "-3"], "'--platform': a platform id must be"),
        (["platforms", "show", "0"], "'PLATFORM_ID': a platform id must be"),
        (["collect", "0"], "'PLATFORM_ID': a platform id must be"),
    ],
)  # fmt: skip
def test_ids_are_checked_the_same_way_in_every_command(
    in_process: Callable[..., str], args: list[str], message: str
) -> None:
    line = in_process(*args, expect=2)
    assert line.startswith(f"error: Invalid value for {message}"), line


HUGE = str(10**23)  # past every integer a driver binds: these reached SQLite as an OverflowError


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["runs", "--limit", HUGE], "Invalid value for '--limit': Input should be less than or equal to 1000000"),
        (["opportunities", "--limit", "1000001"], "Invalid value for '--limit': Input should be less than or equal to 1000000"),
        (["events", "list", "--limit", HUGE], "Invalid value for '--limit'"),
        (["dlq", "list", "--limit", HUGE], "Invalid value for '--limit'"),
        (["dlq", "redrive", "--limit", HUGE], "Invalid value for '--limit'"),
        (["dlq", "redrive", "--visibility-timeout", HUGE], "Invalid value for '--visibility-timeout'"),
        (["collect", "1", "--wait", "--timeout", HUGE], "Invalid value for '--timeout'"),
        (["local", "run", "--batches", HUGE], "Invalid value for '--batches'"),
        (["platforms", "add", "--user", "1", "--name", "x", "--source", "rss", "--check", "--show", HUGE], "Invalid value for '--show'"),
        (["hosts", "set", "example.com", "--max-concurrent", HUGE], f"--max-concurrent must be 1 to 10000, got {HUGE}"),
        (["opportunities", "mark", "1", HUGE, "--status", "applied"], "Invalid value for 'ids': an opportunity id must be an integer from 1 to"),
        (["opportunities", "mark", "0", "--status", "applied"], "Invalid value for 'ids': an opportunity id must be"),
        (["local", "run", "--time-limit", HUGE + "h"], f"--time-limit is at most 30 days, got '{HUGE}h'"),
        (["local", "run", "--every", "43201"], "--every is at most 30 days, got '43201'"),
    ],
)  # fmt: skip
def test_every_count_and_duration_has_a_bound(
    in_process: Callable[..., str], args: list[str], message: str
) -> None:
    line = in_process(*args, expect=2)
    assert line.startswith(f"error: {message}"), line


@pytest.mark.parametrize(
    ("args", "position", "shown"),
    [
        (["platforms", "add", "--user", "1", "--name", "\udcff\udcfe", "--source", "rss"], 6, "\\xff\\xfe"),
        (["platforms", "list", "--source", "\udcff"], 4, "\\xff"),
        (["platforms", "update", "1", "--name", "a\udcffb"], 5, "a\\xffb"),
        (["opportunities", "--source", "\udce9t\udce9"], 3, "\\xe9t\\xe9"),
    ],
)
def test_an_argument_that_is_not_utf8_is_refused_before_anything_runs(
    in_process: Callable[..., str], args: list[str], position: int, shown: str
) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates (surrogateescape): refused with the
    argument's position and its bytes shown, never a UnicodeEncodeError from the database."""
    line = in_process(*args, expect=2)
    assert line == f"error: argument {position} is not UTF-8 text: '{shown}'", line


def test_an_argument_that_is_not_utf8_is_refused_in_a_real_process(cli: Cli) -> None:
    """The same through the console script: the raw byte 0xff on its command line."""
    result = cli("platforms", "list", "--source", os.fsdecode(b"\xff"), expect=2)
    assert one_line(result) == "error: argument 4 is not UTF-8 text: '\\xff'"


# --- platform configs ------------------------------------------------------------------------------

ADD_RSS = ["platforms", "add", "--user", "1", "--name", "x", "--source", "rss"]
FEED = '"url": "https://example.org/feed.xml"'


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{" + FEED + ', "url": "https://example.org/other.xml"}', "--config: the key 'url' is given twice"),
        (
            "{" + FEED + ', "exclude_keywords": ["a\\u0000b"]}',
            "--config: field 'exclude_keywords.0' holds a NUL",
        ),
        (
            "{" + FEED + ', "keywords": ["\\ud800"]}',
            "--config: field 'keywords.0' holds a NUL or a lone surrogate",
        ),
        (
            "{" + FEED + ', "min_budget": ' + "9" * 5000 + "}",
            "--config is not valid JSON: Exceeds the limit (4300 digits)",
        ),
        (
            "{" + FEED + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}",  # a RecursionError in json
            "--config is nested too deeply to be a platform config",
        ),
        (
            "{" + FEED + ', "x": ' + "[" * 40 + "]" * 40 + "}",
            "--config: field 'x" + ".0" * 32 + "' is nested deeper than 32 levels",
        ),
    ],
)
def test_a_config_that_cannot_be_stored_as_meant_exits_2_and_stores_nothing(
    in_process: Callable[..., str], pg_engine: Engine, config: str, message: str
) -> None:
    """Refused before validation: jsonb refuses NUL (it used to come back as a database error,
    exit 1) and a key given twice would silently keep its last value."""
    line = in_process(*ADD_RSS, "--config", config, expect=2)
    assert line.startswith(f"error: {message}"), line
    assert _count(pg_engine) == 0


def test_a_config_file_that_is_not_a_config_is_one_line(
    in_process: Callable[..., str], tmp_path: Path
) -> None:
    binary = tmp_path / "image.png"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    assert in_process(*ADD_RSS, "--config-file", str(binary), expect=2) == (
        f"error: --config-file {binary} is not UTF-8 text (byte 0): a config is a JSON object"
    )
    huge = tmp_path / "huge.json"
    huge.write_text("{" + FEED + ', "x": "' + "a" * 1_000_000 + '"}')
    assert in_process(*ADD_RSS, "--config-file", str(huge), expect=2) == (
        f"error: --config-file {huge} is larger than 1,000,000 bytes: not a platform config"
    )
    endless = in_process(*ADD_RSS, "--config-file", "/dev/zero", expect=2)  # read up to the bound only
    assert endless == "error: --config-file /dev/zero is larger than 1,000,000 bytes: not a platform config"


def test_a_config_file_saved_with_a_bom_is_read(
    in_process: Callable[..., str], pg_engine: Engine, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "config.json"
    saved.write_bytes(b"\xef\xbb\xbf{" + FEED.encode() + b"}")
    with pytest.raises(SystemExit) as exit_info:
        main([*ADD_RSS, "--config-file", str(saved)])
    assert exit_info.value.code == 0, capsys.readouterr().err
    assert _count(pg_engine) == 1


@pytest.mark.parametrize(
    ("args", "env", "option"),
    [
        (["status", "--queue-url", "not a url"], {}, "'--queue-url' (env var: 'COLLECT_QUEUE_URL')"),
        (["status"], {"COLLECT_QUEUE_URL": "sqs/charlee-collect"}, "'--queue-url' (env var: 'COLLECT_QUEUE_URL')"),
        (["collect", "1", "--queue-url", "charlee-collect"], {}, "'--queue-url' (env var: 'COLLECT_QUEUE_URL')"),
        (["dlq", "list", "--dlq-url", "ftp://example.com/dlq"], {}, "'--dlq-url' (env var: 'COLLECT_DLQ_URL')"),
        (["local", "poll", "--queue-url", "http://127.0.0.1:1/q", "--endpoint-url", "localhost:4566"], {}, "'--endpoint-url'"),
        (["events", "publish", "--endpoint-url", "events"], {}, "'--endpoint-url'"),
    ],
)  # fmt: skip
def test_a_queue_or_endpoint_that_is_not_a_url_exits_2_before_any_call(
    in_process: Callable[..., str], args: list[str], env: dict[str, str], option: str
) -> None:
    """It went to botocore and came back as "could not connect to the endpoint" (or a missing
    credential) for a URL nobody gave."""
    line = in_process(*args, expect=2, env={"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", **env})
    assert line.startswith(f"error: Invalid value for {option}: must be an http:// or https:// URL"), line


def test_a_negative_user_id_exits_2(cli: Cli) -> None:
    """The issue's case, in a subprocess: it used to list nothing and exit 0."""
    assert one_line(cli("opportunities", "--user", "-1", expect=2)) == (
        f"error: Invalid value for '--user': a user id must be an integer from 1 to {USER_IDS.high}, "
        "got -1 (see `charlee-collector opportunities --help`)"
    )


@pytest.mark.parametrize(
    "args",
    [["runs", "--platform", "999"], ["opportunities", "--platform", "999"], ["collect", "999"],
     ["platforms", "show", "999"], ["platforms", "resume", "999"]],
)  # fmt: skip
def test_a_platform_that_does_not_exist_is_not_found(in_process: Callable[..., str], args: list[str]) -> None:
    assert in_process(*args, expect=1) == "error: platform 999 not found"


def test_runs_of_a_platform_that_does_not_exist(cli: Cli) -> None:
    """The issue's case, in a subprocess: it used to say "no collection runs yet" and exit 0."""
    assert one_line(cli("runs", "--platform", "999", expect=1)) == "error: platform 999 not found"


def test_an_existing_platform_without_runs_is_not_an_error(cli: Cli, pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
    result = cli("runs", "--platform", str(platform_id))
    assert (result.stdout, result.stderr) == ("", "no collection runs yet\n")


# --- make invoke --------------------------------------------------------------------------------


def _invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "invoke.py"), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
        env=None if env is None else {**_clean_env(), **env},
    )


def _clean_env() -> dict[str, str]:
    """This machine's environment without its database, queue and AWS settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_PREFIXES)}


COLLECT_ONE = ("--function", "CollectorFunction", "--event", "events/sqs_collect_one.json")


def _error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The last stderr line of a run that failed with ``code``, and no traceback anywhere."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout and result.stdout == ""
    return result.stderr.splitlines()[-1]


def test_invoke_without_a_database_is_the_clis_one_line() -> None:
    line = _error_line(_invoke(*COLLECT_ONE, env={}), 2)
    assert line == "invoke: set DATABASE_URL or DB_SECRET_ARN to name the database"


def test_invoke_of_a_database_that_does_not_exist_is_the_clis_one_line(postgres_server_url: URL) -> None:
    missing = postgres_server_url.set(database="doesnotexist_inv25")
    env = {"DATABASE_URL": missing.render_as_string(False), "DB_TLS": "false"}
    line = _error_line(_invoke(*COLLECT_ONE, env=env), 1)
    assert line == (
        f"invoke: database error: PostgreSQL at {missing.host}:{missing.port}, database "
        "'doesnotexist_inv25': database \"doesnotexist_inv25\" does not exist"
    )


def test_invoke_against_a_server_refusing_tls_says_db_tls() -> None:
    # A PostgreSQL without TLS answers "N" to the client's SSLRequest; the template sets DB_TLS=true.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        answered = threading.Thread(target=_refuse_tls, args=(server,), daemon=True)
        answered.start()
        env = {"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/collector"}
        line = _error_line(_invoke(*COLLECT_ONE, env=env), 1)
        answered.join(timeout=10)
    assert line == (
        f"invoke: database error: PostgreSQL at 127.0.0.1:{port}, database 'collector': the server "
        "refuses TLS (on for every host but this machine; set DB_TLS=false for a server without TLS)"
    )


def _refuse_tls(server: socket.socket) -> None:
    connection, _ = server.accept()
    with connection:
        connection.recv(8)  # the SSLRequest
        connection.sendall(b"N")


def test_invoke_of_the_dispatcher_without_a_queue_says_collect_queue_url(postgres_server_url: URL) -> None:
    env = {"DATABASE_URL": postgres_server_url.render_as_string(False), "DB_TLS": "false"}
    args = ("--function", "DispatcherFunction", "--event", "events/scheduled.json")
    line = _error_line(_invoke(*args, env=env), 2)
    assert line.startswith("invoke: environment variable COLLECT_QUEUE_URL is not set (the queue ")


def test_invoke_with_a_missing_or_broken_event_is_one_line(tmp_path: Path) -> None:
    missing = _invoke("--function", "CollectorFunction", "--event", "events/nope.json")
    assert missing.returncode == 2 and missing.stdout == ""
    [line] = missing.stderr.splitlines()
    assert line.startswith(
        "invoke: cannot read event events/nope.json: No such file or directory (events/ holds "
    )
    assert "sqs_collect_one.json" in line and "env.local.json" not in line

    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = _invoke("--function", "CollectorFunction", "--event", str(broken))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"invoke: event {broken} is not valid JSON: ")

    result = _invoke()  # argparse's own error: usage and message, wrapped, before
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line == (
        "invoke: the following arguments are required: --function, --event "
        "(usage: make invoke FUNCTION=CollectorFunction EVENT=events/x.json)"
    )

    result = _invoke("--function", "NoSuchFunction", "--event", "events/migrate.json")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("invoke: NoSuchFunction is not a function of ")


# --- flags ---------------------------------------------------------------------------------------


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path]
    for name, command in getattr(group, "commands", {}).items():
        found.extend(_commands(command, (*path, name)))
    return found


def test_no_help_promises_a_value_to_a_flag(capsys: pytest.CaptureFixture[str]) -> None:
    """Flags take no value (``--json``, not ``--json true``): no help shows them a ``<bool>``."""
    import typer.main

    commands = _commands(typer.main.get_command(app))
    assert ("platforms", "add") in commands and ("sources",) in commands
    for path in commands:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0
        help_text = capsys.readouterr().out
        assert "Usage" in help_text and "<bool>" not in help_text, path


def test_json_is_a_flag(cli: Cli) -> None:
    assert cli("runs", "--json").json == []
    assert one_line(cli("runs", "--json", "true", expect=2)) == (
        "error: Got unexpected extra argument(s) (true) (see `charlee-collector runs --help`)"
    )
