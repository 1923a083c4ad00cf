"""What every command shares: the database it opens, the two consoles, errors, JSON and tables.

Exit codes: 0 done; 1 something was not found or did not work (a failed collection, an
unreachable database or queue); 2 the input is wrong (a bad option, an invalid platform config,
a malformed environment variable). stdout carries the result (a table, one JSON document, an
id); progress, notices and errors go to stderr, so ``--json`` output can be piped as it is.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy import URL, Connection, Engine
from typer.core import TyperGroup

import charlee_collector
from charlee_collector.app.messages import PLATFORM_IDS, USER_IDS, IdRange
from charlee_collector.core.settings import Settings
from charlee_collector_tools.cli.click_errors import UsageError
from charlee_collector_tools.local.runner import PlatformOutcome

EXIT_FAILED = 1
EXIT_USAGE = 2

# On a terminal, tables fit its width and long cells are clipped with "…" (``clip``). Anywhere
# else (a pipe, a file, a cron log) there is no width: a table row is one line carrying every
# cell whole, so `charlee-collector runs | grep timeout` finds the row with its entire error.
STDOUT_IS_TERMINAL = sys.stdout.isatty()
UNBOUNDED_WIDTH = 1_000_000  # wider than any row: rich needs a number
# Neither console reads markup or emoji codes in what it prints: every value from a user, a
# provider or AWS is printed exactly as stored (``[bold]x[/bold]`` stays that text, the
# ``:secret:`` of a Secrets Manager ARN is not an emoji). The few styles the command itself uses
# are ``Text`` spans (``error_line``, ``warning_line``, ``outcome_text``), never markup strings.
out = Console(
    highlight=False, markup=False, emoji=False, width=None if STDOUT_IS_TERMINAL else UNBOUNDED_WIDTH
)
# Messages are never wrapped: rich wraps at 80 columns when stderr is not a terminal, which made
# a one-line error three lines in a log file. Each message stays the one line it was written as.
err = Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def labelled(label: str, style: str, message: str) -> Text:
    """``label`` in ``style``, then ``message`` as plain text (never read as markup)."""
    return Text.assemble((label, style), " ", message)


def error_line(message: str) -> Text:
    return labelled("error:", "bold red", message)


def warning_line(message: str) -> Text:
    return labelled("warning:", "yellow", message)


# --- command names -------------------------------------------------------------------------------

# Words a user reaches for that are not our command names, and the commands they mean (the first
# one the group has is suggested): ``platforms delete`` is ``remove``, ``hosts unset`` is ``clear``.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "delete": ("remove", "clear"),
    "del": ("remove", "delete", "clear"),
    "rm": ("remove", "delete", "clear"),
    "ls": ("list",),
    "get": ("show",),
    "info": ("show",),
    "describe": ("show",),
    "view": ("show",),
    "create": ("add",),
    "new": ("add",),
    "edit": ("update",),
    "change": ("update",),
    "modify": ("update",),
    "unpause": ("resume",),
    "unset": ("clear",),
    "reset": ("clear",),
}


def suggest(typed: str, names: Sequence[str]) -> list[str]:
    """The commands of a group that ``typed`` probably meant: a synonym's command, else the close
    spellings (``difflib``, as typer's own suggestion)."""
    import difflib

    for meant in SYNONYMS.get(typed.lower(), ()):
        if meant in names:
            return [meant]
    return difflib.get_close_matches(typed.lower(), names, n=3, cutoff=0.6)


class SuggestingGroup(TyperGroup):
    """A group whose "No such command" suggests the command meant, on the same line:
    ``No such command 'delete'; did you mean 'remove'?``."""

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            if args and exc.message.startswith("No such command"):
                matches = suggest(args[0], sorted(self.commands))
                exc.message = f"No such command {args[0]!r}" + (
                    f"; did you mean {' or '.join(map(repr, matches))}?" if matches else "."
                )
            raise


class CliError(Exception):
    """An expected failure: ``main`` prints one line on stderr, no traceback, and exits with the code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def show(self) -> None:
        err.print(error_line(self.message))


class NotFound(CliError):
    """A platform (or another row) the command was pointed at does not exist."""


class BadInput(CliError):
    """The input cannot work as given (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, EXIT_USAGE)


def is_text(value: str) -> bool:
    """False for a string holding lone surrogates (bytes that were not UTF-8, or a JSON
    ``\\ud800``): no database, JSON document or terminal takes one."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- ids -----------------------------------------------------------------------------------------


def _id_check(ids: IdRange, what: str) -> Callable[[int | None], int | None]:
    def check(value: int | None) -> int | None:
        if value is None:
            return None
        try:
            return ids.check(value, what)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None

    return check


# Every id a command takes is checked against the column it is looked up in, as messages are
# (``messages.IdRange``): exit 2 with one line, before any SQL.
check_platform_id = _id_check(PLATFORM_IDS, "a platform id")
check_user_id = _id_check(USER_IDS, "a user id")


def check_ids(ids: IdRange, what: str) -> Callable[[list[int]], list[int]]:
    """``_id_check`` for an argument that takes several ids."""
    one = _id_check(ids, what)

    def check(values: list[int]) -> list[int]:
        return [one(value) for value in values]  # type: ignore[misc]

    return check


def check_url(value: str | None) -> str | None:
    """A queue or endpoint option must be an absolute http(s) URL: anything else used to travel to
    botocore and come back as "could not connect to the endpoint" for a URL nobody gave."""
    if not value:  # unset, or an empty variable: as before, no queue
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise typer.BadParameter(
            "must be an http:// or https:// URL (https://sqs.us-east-1.amazonaws.com/123456789012/name, "
            f"http://localhost:4566), got {value[:200]!r}"
        )
    return value


# Every command that talks to SQS takes the same --endpoint-url.
SqsEndpointUrl = Annotated[
    str | None,
    typer.Option(
        "--endpoint-url",
        callback=check_url,
        help="A non-AWS SQS endpoint (moto, LocalStack).",
        show_default=False,
    ),
]


# --- counts --------------------------------------------------------------------------------------

# The most rows one listing prints or one command moves: far above any real use, and inside every
# integer a driver binds (an unbounded --limit once reached the driver as an OverflowError).
MAX_LISTED = 1_000_000


def limit_option(help_text: str) -> Any:
    """The ``--limit`` of a listing: 1 to ``MAX_LISTED``, exit 2 outside."""
    return typer.Option("--limit", help=help_text, min=1, max=MAX_LISTED)


def require_platform(conn: Connection, platform_id: int) -> None:
    """``NotFound`` (exit 1) unless the platform exists."""
    from sqlalchemy import select

    from charlee_collector.store.tables import platforms

    if conn.execute(select(platforms.c.id).where(platforms.c.id == platform_id)).first() is None:
        raise NotFound(f"platform {platform_id} not found")


# --- the database ------------------------------------------------------------------------------


@dataclass
class Options:
    """Global options (set by the app callback before any command runs)."""

    db: str | None = None


options = Options()


def settings() -> Settings:
    """Settings from the environment; a malformed variable is a usage error naming it."""
    from charlee_collector.core.errors import ConfigurationError

    try:
        return Settings.from_env()
    except ConfigurationError as exc:
        raise BadInput(str(exc)) from None


def database_url() -> URL:
    """``--db``, else ``DATABASE_URL`` (or ``DB_SECRET_ARN``), else the embedded PostgreSQL
    (started when needed: ``local/embedded_server.py``)."""
    from charlee_collector.store.engine import normalize_url, resolve_url

    if options.db:
        return normalize_url(options.db, named_by="--db")
    current = settings()
    if current.database_url or current.db_secret_arn:
        return resolve_url(current)
    from charlee_collector_tools.local import embedded_server

    return embedded_server.database_url()


def uses_embedded_database() -> bool:
    """True when nothing names a server, so the command runs on the embedded PostgreSQL."""
    if options.db:
        return False
    current = settings()
    return not (current.database_url or current.db_secret_arn)


def command_settings() -> Settings:
    """The environment's settings, pointed at the database this command uses."""
    return replace(settings(), database_url=database_url().render_as_string(hide_password=False))


def describe_db(url: URL) -> str:
    """The database for a message (``store.engine.describe_database``: no password)."""
    from charlee_collector.store.engine import describe_database

    return describe_database(url)


@contextmanager
def open_engine(*, upgrade: bool | None = None) -> Iterator[Engine]:
    """An engine on the command's database, with its schema current.

    The embedded database is created and upgraded on first use, so a fresh machine needs no
    setup; a server named by the user is upgraded only by ``migrate`` (or ``upgrade=True``), and
    a database that was never migrated is an error that says so.
    """
    from charlee_collector.store.engine import create_db_engine

    url = database_url()
    current = settings()
    engine = create_db_engine(
        url,
        tls=current.db_tls,
        ca_bundle=current.db_ca_bundle,
        pool_size=current.db_pool_size,
        connect_timeout=current.db_connect_timeout,
        warn=lambda message: err.print(warning_line(message)),
    )
    try:
        if upgrade is None:
            upgrade = uses_embedded_database()
        ensure_schema(engine, url, upgrade=upgrade)
        yield engine
    finally:
        engine.dispose()


def ensure_schema(engine: Engine, url: URL, *, upgrade: bool) -> None:
    """Upgrade the schema (when allowed and behind), or fail when the database was never migrated."""
    revision = stored_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if upgrade:
        from charlee_collector.store import migrate

        migrate.upgrade(engine)
        return
    if revision is None:
        raise CliError(
            f"the database {describe_db(url)} has no collector schema yet: run `charlee-collector migrate`"
        )
    err.print(
        warning_line(
            f"the database schema is at {revision}, this version expects {head}: run `charlee-collector migrate`"
        )
    )


def stored_revision(engine: Engine) -> str | None:
    """The Alembic revision stored in the database (None when never migrated)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


_REVISION = re.compile(r"^revision\s*(?::[^=]+)?=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\s*(?::[^=]+)?=\s*(.+)$", re.MULTILINE)


def head_revision() -> str | None:
    """The newest revision this version of the package ships.

    Read from the migration files' ``revision`` / ``down_revision`` lines, which every command
    can afford (importing Alembic costs half a second); Alembic itself decides when that reading
    is not a single plain head.
    """
    # Found beside the package, not through store.migrate.MIGRATIONS: that import costs Alembic.
    migrations = Path(charlee_collector.__file__).resolve().parent / "store" / "migrations"
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (migrations / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            continue
        revisions.add(revision.group(1))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    if len(heads) == 1:
        return heads.pop()
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(migrations)).get_current_head()


# --- the collector's own logging ---------------------------------------------------------------


def quiet_handler_logs(level: str | None = None) -> None:
    """Before collecting in this process: Powertools logs to stderr (errors only unless
    ``POWERTOOLS_LOG_LEVEL`` says otherwise), no EMF metric lines, no tracing."""
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    from charlee_collector_tools.local.runner import quiet_logs

    quiet_logs(level or os.environ.get("POWERTOOLS_LOG_LEVEL") or "error")


# --- SQS ---------------------------------------------------------------------------------------

_REGION_IN_URL = re.compile(r"sqs[.-]([a-z0-9-]+)\.amazonaws\.com")


def sqs_client(queue_url: str | None = None, endpoint_url: str | None = None) -> Any:
    """A boto3 SQS client; the region comes from the environment, else from the queue URL."""
    from charlee_collector.app.runtime import new_sqs_client
    from charlee_collector.core.aws import aws_region

    region = aws_region()
    if not region and queue_url and (match := _REGION_IN_URL.search(queue_url)):
        region = match.group(1)
    return new_sqs_client(region=region or "us-east-1", endpoint_url=endpoint_url)


# --- output ------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def print_json(document: Any) -> None:
    """One JSON document on stdout and nothing else."""
    typer.echo(json.dumps(document, default=_json_default, ensure_ascii=False))


def when(value: datetime | None, *, empty: str = "-") -> str:
    """A timestamp for a table or a message: UTC, to the second, saying so (``... 10:00:00 UTC``)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if value else empty


def seconds(duration_ms: int | None) -> str:
    return "-" if duration_ms is None else f"{duration_ms / 1000:.1f}s"


def clip(value: str | None, width: int = 80) -> str:
    """A single line (runs of white space, line breaks included, become one space); on a terminal
    at most ``width`` characters, cut with "…"; elsewhere (a pipe, a file) whole."""
    if not value:
        return ""
    line = " ".join(value.split())
    return line if len(line) <= width or not STDOUT_IS_TERMINAL else line[: width - 1] + "…"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table; cells are shown as text, never interpreted as markup or emoji codes."""
    result = Table(title=title, title_justify="left", show_lines=False, header_style="bold")
    for column in columns:
        numeric = column in {
            "ID",
            "User",
            "Fetched",
            "Filtered",
            "New",
            "Updated",
            "Total",
            "Failures",
            "Attempts",
        }
        result.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        result.add_row(
            *(cell if isinstance(cell, Text) else Text("" if cell is None else str(cell)) for cell in row)
        )
    return result


def outcome_text(outcome: str) -> Text:
    colour = {"success": "green", "not_modified": "green", "failed": "red", "rate_limited": "yellow"}
    return Text(outcome, style=colour.get(outcome, ""))


def results_table(title: str, rows: Sequence[PlatformOutcome], *, attempts: bool = False) -> Table:
    """The per-platform summary table."""
    columns = ["ID", "Platform", "Outcome", "Fetched", "Filtered", "New", "Updated", "Duration", "Error"]
    if attempts:
        columns.insert(3, "Attempts")
    result = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        numeric = column in {"ID", "Attempts", "Fetched", "Filtered", "New", "Updated", "Duration"}
        result.add_column(column, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        cells = [
            Text(str(row.platform_id)),
            Text(row.name),
            outcome_text(row.outcome),
            Text(str(row.fetched)),
            Text(str(row.filtered)),
            Text(str(row.inserted)),
            Text(str(row.updated)),
            Text(seconds(row.duration_ms)),
            Text(clip(row.error, 120)),
        ]
        if attempts:
            cells.insert(3, Text(str(row.attempts)))
        result.add_row(*cells)
    return result


def platform_names(engine: Engine, ids: Iterable[int]) -> Mapping[int, str]:
    """Platform id -> name for the ids given (missing ones are left out)."""
    from sqlalchemy import select

    from charlee_collector.store.tables import platforms

    wanted = list(set(ids))
    if not wanted:
        return {}
    with engine.connect() as conn:
        rows = conn.execute(select(platforms.c.id, platforms.c.name).where(platforms.c.id.in_(wanted)))
        return {row.id: row.name for row in rows}
