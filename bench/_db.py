"""Scratch PostgreSQL databases for the benchmarks: created, migrated, and dropped afterwards.

The server comes from ``BENCH_DATABASE_URL`` (default: trust auth as postgres on 127.0.0.1:5432);
each benchmark gets its own ``charlee_bench_<random>`` database on it, so a run never touches
data it did not create. Importing this module also puts ``shared/`` on ``sys.path``, so a bench
runs as ``.venv/bin/python bench/<name>.py`` from the repository root without installing anything.
"""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT / "shared") not in sys.path:
    sys.path.insert(0, str(ROOT / "shared"))

from sqlalchemy import URL, Engine, create_engine, make_url, text  # noqa: E402

from charlee_collector.store import migrate  # noqa: E402
from charlee_collector.store.engine import create_db_engine, normalize_url  # noqa: E402

DEFAULT_SERVER_URL = "postgresql+pg8000://postgres@127.0.0.1:5432/"


def server_url() -> URL:
    """The server the benchmarks create their databases on (its maintenance database)."""
    url = normalize_url(make_url(os.environ.get("BENCH_DATABASE_URL") or DEFAULT_SERVER_URL))
    return url if url.database else url.set(database="postgres")


@contextmanager
def scratch_database(prefix: str = "charlee_bench", *, pool_size: int = 4) -> Iterator[Engine]:
    """An engine on a new, migrated database that is dropped (even on error) when the block ends."""
    server = server_url()
    name = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_db_engine(server.set(database=name), pool_size=pool_size)
        try:
            migrate.upgrade(engine)
            yield engine
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def report(name: str, value: float, unit: str) -> None:
    """Print one figure as ``name value unit`` (the format every bench shares)."""
    if isinstance(value, int) or value >= 100:
        shown = f"{value:.0f}"
    elif value >= 10:
        shown = f"{value:.1f}"
    else:
        shown = f"{value:.2f}"
    print(f"{name} {shown} {unit}", flush=True)
