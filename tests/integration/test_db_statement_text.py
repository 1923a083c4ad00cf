"""pg8000 converts a statement's text once per process: the same text and arguments it would
give itself, for every statement it sees again, and its own errors for text it refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pg8000.dbapi
import pg8000.legacy
import pytest
from pg8000.exceptions import InterfaceError
from sqlalchemy import URL, Connection, Engine, select, text
from sqlalchemy.dialects.postgresql import pg8000 as pg8000_dialect

from charlee_collector.store.engine import create_db_engine
from charlee_collector.store.opportunities import _UPSERT
from charlee_collector.store.tables import platforms

OWN = pg8000.dbapi.convert_paramstyle  # pg8000's scanner, which the engine's one wraps
TEXTS = [
    "SELECT %s, %s",
    "SELECT '%s' || %s",  # a marker inside a string literal is text, not a parameter
    "SELECT E'it\\'s %s' || %s",
    'SELECT 1 AS "%s", %s',
    "SELECT %s -- a comment with %s\n, %s",
    "SELECT $$ %s $$, %s",
    "SELECT 100 %% %s",
    "SELECT %s::jsonb -> 'a'",
]


@pytest.fixture
def engine(postgres_url: URL) -> Iterator[Engine]:
    engine = create_db_engine(postgres_url, pool_size=1)
    yield engine
    engine.dispose()


def _converting(engine: Engine) -> Callable[..., Any]:
    convert = pg8000.legacy.convert_paramstyle
    assert getattr(convert, "remembers", False), "create_db_engine did not install the conversion"
    return convert


@pytest.mark.parametrize("query", [*TEXTS, str(_UPSERT.compile(dialect=pg8000_dialect.dialect()))])
def test_the_conversion_equals_pg8000s_own_and_passes_the_arguments_through(
    engine: Engine, query: str
) -> None:
    convert = _converting(engine)
    args = ("a", 2, None)
    for _ in range(2):  # converted, then remembered
        statement, values = convert("format", query, args)
        assert (statement, values) == OWN("format", query, args)
        assert values is args


def test_named_style_and_refused_text_go_to_pg8000_each_time(engine: Engine) -> None:
    convert = _converting(engine)
    assert convert("named", "SELECT :a, :b, :a", {"a": 1, "b": 2}) == ("SELECT $1, $2, $1", (1, 2))
    for _ in range(2):
        with pytest.raises(InterfaceError, match="Only %s and %% are supported"):
            convert("format", "SELECT %d", (1,))


def test_statements_run_again_are_not_converted_again(engine: Engine) -> None:
    info = _converting(engine).cache_info
    query = select(platforms.c.id).where(platforms.c.name == "no such platform %s")
    cast = text("SELECT CAST(:v AS text)")

    def both(conn: Connection) -> None:
        assert conn.execute(query).all() == []
        assert conn.execute(cast, {"v": "%s ok"}).scalar_one() == "%s ok"

    with engine.connect() as conn:
        both(conn)  # converts each text once
        hits = info().hits
        for _ in range(3):
            both(conn)
        assert info().hits >= hits + 6
