"""What is left of SQLite: the refusal of its URLs and file paths, and a note about an old file.

Charlee Collector runs on PostgreSQL only (the embedded server when nothing names one). A
``DATABASE_URL`` or ``--db`` that names SQLite, or a file path, is refused with one line saying
how to point at PostgreSQL instead (``ConfigurationError``: exit 2 in the CLI, a cold-start
failure in a Lambda). Releases before this one kept local data in ``collector.sqlite3`` under
``$CHARLEE_HOME``; that file is never read again, and the first start of the embedded server
mentions it once.
"""

from __future__ import annotations

from pathlib import Path

from charlee_collector.core.errors import ConfigurationError

OLD_LOCAL_FILE = "collector.sqlite3"

HOW_TO_POINT_AT_POSTGRESQL = (
    "leave DATABASE_URL and --db unset for the embedded PostgreSQL, "
    "or give postgresql://USER:PASSWORD@HOST:5432/DBNAME"
)


def names_unsupported_database(value: str) -> bool:
    """True when ``value`` is a SQLite URL (``sqlite://``, ``sqlite+pysqlite://``) or a file
    path (no ``scheme://``), which earlier releases took as a SQLite file."""
    scheme, sep, _rest = value.strip().partition("://")
    if not sep:
        return True
    return scheme.lower().split("+")[0] == "sqlite"


def refuse(value: str, where: str) -> ConfigurationError:
    """The one-line error for a ``where`` (``--db``, ``DATABASE_URL``) naming SQLite or a file."""
    kind = "a file path" if "://" not in value else "a SQLite database"
    return ConfigurationError(
        f"{where} names {kind}, and SQLite is no longer supported (Charlee Collector runs on "
        f"PostgreSQL only): {HOW_TO_POINT_AT_POSTGRESQL}"
    )


def old_local_file_note(home: Path) -> str | None:
    """A line about an earlier release's local SQLite file in ``home``; None when there is none."""
    path = home / OLD_LOCAL_FILE
    if not path.is_file():
        return None
    return (
        f"note: {path} holds data of an earlier release (SQLite), which is not read any more; "
        "re-add its platforms with `charlee-collector platforms add` "
        f"(`sqlite3 {path} 'SELECT name, source, config FROM freelance_platforms'` lists them)"
    )
