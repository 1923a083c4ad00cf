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
from rich.markup import escape
from rich.table import Table
from sqlalchemy import URL, Connection, Engine

import charlee_collector
from charlee_collector.app.messages import PLATFORM_IDS, USER_IDS, IdRange
from charlee_collector.core.settings import Settings
from charlee_collector_tools.local.runner import PlatformOutcome

EXIT_FAILED = 1
EXIT_USAGE = 2

# Piped output is not wrapped at 80 columns (tables stay one row per line for grep and files).
out = Console(highlight=False, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 200)
# Messages are never wrapped: rich wraps at 80 columns when stderr is not a terminal, which made
# a one-line error three lines in a log file. Each message stays the one line it was written as.
err = Console(stderr=True, highlight=False, soft_wrap=True)


class CliError(Exception):
    """An expected failure: ``main`` prints one line on stderr, no traceback, and exits with the code."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def show(self) -> None:
        err.print(f"[bold red]error:[/] {escape(self.message)}")


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
    """The database for a message: the URL without its password (a Unix socket's path as it is)."""
    from charlee_collector.store.engine import UNIX_SOCKET

    socket_path = url.query.get(UNIX_SOCKET)
    if isinstance(socket_path, str):
        return f"database {url.database!r} on the PostgreSQL at {socket_path}"
    return url.render_as_string(hide_password=True)


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
        url, tls=current.db_tls, pool_size=current.db_pool_size, connect_timeout=current.db_connect_timeout
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
        f"[yellow]warning:[/] the database schema is at {revision}, this version expects {head}: "
        "run `charlee-collector migrate`"
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

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
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
    """A single line of at most ``width`` characters."""
    if not value:
        return ""
    line = " ".join(value.split())
    return line if len(line) <= width else line[: width - 1] + "…"


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A rich table; cells are shown as text, never interpreted as markup."""
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
        result.add_row(*(escape("" if cell is None else str(cell)) for cell in row))
    return result


def outcome_style(outcome: str) -> str:
    colour = {"success": "green", "not_modified": "green", "failed": "red", "rate_limited": "yellow"}
    style = colour.get(outcome)
    return f"[{style}]{outcome}[/]" if style else outcome


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
            str(row.platform_id),
            escape(row.name),
            outcome_style(row.outcome),
            str(row.fetched),
            str(row.filtered),
            str(row.inserted),
            str(row.updated),
            seconds(row.duration_ms),
            escape(clip(row.error, 120)),
        ]
        if attempts:
            cells.insert(3, str(row.attempts))
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
