"""The bulk upsert of opportunities on PostgreSQL: counts, idempotence, limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, func, select, text, update

from charlee_collector.core.limits import LIMITS
from charlee_collector.core.opportunity import HASHED_FIELDS, Opportunity
from charlee_collector.store.opportunities import UpsertCounts, upsert_opportunities
from charlee_collector.store.tables import opportunities
from tests.support.factories import add_platform, opportunity

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=15)


def _upsert(
    conn: Connection, platform_id: int, items: list[Opportunity], now: datetime = NOW
) -> UpsertCounts:
    return upsert_opportunities(conn, platform_id=platform_id, user_id=1, items=items, now=now)


def _rows(conn: Connection, platform_id: int | None = None) -> dict[str, Any]:
    query = select(opportunities)
    if platform_id is not None:
        query = query.where(opportunities.c.platform_id == platform_id)
    return {row.external_id: row for row in conn.execute(query)}


def _count(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(opportunities)).scalar_one()


def test_same_items_twice_inserts_once(pg_engine: Engine) -> None:
    items = [opportunity(n) for n in range(50)]
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        assert _upsert(conn, platform_id, items) == UpsertCounts(inserted=50)
    with pg_engine.begin() as conn:
        assert _upsert(conn, platform_id, items, LATER) == UpsertCounts(unchanged=50)
        assert _count(conn) == 50


def test_unchanged_item_is_not_rewritten(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(1)])
        _upsert(conn, platform_id, [opportunity(1)], LATER)
        assert _rows(conn)["job-1"].updated_at == NOW


def test_changed_title_is_one_update(pg_engine: Engine) -> None:
    items = [opportunity(n) for n in range(10)]
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, items)
    items[3] = opportunity(3, title="Senior Python engineer (remote)")
    with pg_engine.begin() as conn:
        assert _upsert(conn, platform_id, items, LATER) == UpsertCounts(updated=1, unchanged=9)
        row = _rows(conn)["job-3"]
        assert row.title == "Senior Python engineer (remote)"
        assert row.content_hash == items[3].content_hash


def test_change_with_the_same_clock_is_an_update(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(1)])
        assert _upsert(conn, platform_id, [opportunity(1, title="changed")]) == UpsertCounts(updated=1)


def test_new_changed_and_unchanged_in_one_call(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(n) for n in range(5)])
    items = [opportunity(n) for n in range(8)]
    items[0] = replace(items[0], description="rewritten")
    items[4] = replace(items[4], required_skills=["python", "aws", "postgresql"])
    with pg_engine.begin() as conn:
        assert _upsert(conn, platform_id, items, LATER) == UpsertCounts(inserted=3, updated=2, unchanged=3)
        assert _count(conn) == 8


def test_raw_alone_does_not_count_as_a_change(pg_engine: Engine) -> None:
    """Sources put volatile counters in ``raw``; they must not rewrite every row on every run."""
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(1)])
        counts = _upsert(conn, platform_id, [replace(opportunity(1), raw={"id": 1, "views": 99})], LATER)
        assert counts == UpsertCounts(unchanged=1)


def test_empty_input(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        assert _upsert(conn, add_platform(conn), []) == UpsertCounts()


def test_ten_thousand_items_in_one_call(pg_engine: Engine) -> None:
    items = [opportunity(n) for n in range(10_000)]
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        assert _upsert(conn, platform_id, items) == UpsertCounts(inserted=10_000)
        assert _count(conn) == 10_000


@pytest.mark.parametrize("chunk_size", [500, 2], ids=["one-chunk", "across-chunks"])
def test_repeated_external_id_in_one_batch_keeps_the_last(pg_engine: Engine, chunk_size: int) -> None:
    items = [opportunity(1, title="first"), opportunity(2), opportunity(3), opportunity(1, title="last")]
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        counts = upsert_opportunities(
            conn, platform_id=platform_id, user_id=1, items=items, now=NOW, chunk_size=chunk_size
        )
        assert counts == UpsertCounts(inserted=3)
        assert _rows(conn)["job-1"].title == "last"
        assert _count(conn) == 3


def test_same_external_id_on_another_platform_is_another_row(pg_engine: Engine) -> None:
    items = [opportunity(n) for n in range(3)]
    with pg_engine.begin() as conn:
        first = add_platform(conn)
        second = add_platform(conn, user_id=2)
        assert _upsert(conn, first, items) == UpsertCounts(inserted=3)
        counts = upsert_opportunities(conn, platform_id=second, user_id=2, items=items, now=NOW)
        assert counts == UpsertCounts(inserted=3)
        assert _count(conn) == 6
        assert {row.user_id for row in _rows(conn, second).values()} == {2}
        assert {row.user_id for row in _rows(conn, first).values()} == {1}


def test_update_keeps_status_and_collected_at_and_moves_updated_at(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(1)])
        # The application that reads the results has triaged it.
        conn.execute(update(opportunities).values(status="applied"))
    with pg_engine.begin() as conn:
        assert _upsert(conn, platform_id, [opportunity(1, title="new title")], LATER) == UpsertCounts(
            updated=1
        )
        row = _rows(conn)["job-1"]
    assert row.status == "applied"
    assert row.collected_at == NOW
    assert row.updated_at == LATER
    assert row.title == "new title"


def test_new_row_defaults(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        _upsert(conn, platform_id, [opportunity(1)])
        row = _rows(conn)["job-1"]
    assert row.status == "new"
    assert row.collected_at == row.updated_at == NOW
    assert row.platform_id == platform_id
    assert row.required_skills == ["python", "aws"]
    assert row.raw == {"id": 1}


def _at_the_limits() -> Opportunity:
    def wide(column: str, char: str = "é") -> str:
        # Multi-byte characters: the limits count characters, not bytes.
        return char * LIMITS[column]

    return Opportunity(
        external_id=wide("external_id", "x"),
        title=wide("title"),
        description="ü" * 200_000,
        url="https://example.org/" + "a" * (LIMITS["url"] - len("https://example.org/")),
        client_name=wide("client_name"),
        client_country=wide("client_country"),
        required_skills=[f"skill-{n}-ß" for n in range(200)],
        category=wide("category"),
        client_budget=Decimal("999999999999.99"),  # Numeric(14, 2) at its largest
        client_currency=wide("client_currency", "Z"),
        contract_type="fixed_price",
        posted_at=datetime(1970, 1, 1, tzinfo=UTC),
        raw={"nested": {"list": list(range(100)), "text": "日本語" * 1000}, "null": None},
    )


def test_values_at_column_limits_round_trip(pg_engine: Engine) -> None:
    item = _at_the_limits()
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        assert _upsert(conn, platform_id, [item]) == UpsertCounts(inserted=1)
        assert _upsert(conn, platform_id, [item], LATER) == UpsertCounts(unchanged=1)
        row = _rows(conn)[item.external_id]
    for name in (*HASHED_FIELDS, "raw"):
        assert getattr(row, name) == getattr(item, name), name
    assert row.content_hash == item.content_hash


def test_minimal_item_and_smallest_budget(pg_engine: Engine) -> None:
    items = [
        Opportunity(external_id="bare", title="t"),
        replace(opportunity(2), client_budget=Decimal("0.01"), contract_type="hourly"),
    ]
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        assert _upsert(conn, platform_id, items) == UpsertCounts(inserted=2)
        rows = _rows(conn)
    assert rows["bare"].description is None
    assert rows["bare"].required_skills == []
    assert rows["bare"].raw is None
    assert rows["job-2"].client_budget == Decimal("0.01")


def test_a_budget_period_is_stored_and_its_change_is_an_update(pg_engine: Engine) -> None:
    unknown = replace(opportunity(1), client_budget=Decimal("75.00"), client_currency="USD")
    hourly = replace(unknown, budget_period="hour", contract_type="hourly")
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn)
        assert _upsert(conn, platform_id, [unknown]) == UpsertCounts(inserted=1)
        assert _rows(conn)["job-1"].budget_period is None
        assert _upsert(conn, platform_id, [hourly], LATER) == UpsertCounts(updated=1)
        row = _rows(conn)["job-1"]
        assert (row.budget_period, row.contract_type, row.content_hash) == (
            "hour",
            "hourly",
            hourly.content_hash,
        )
        assert _upsert(conn, platform_id, [hourly], LATER) == UpsertCounts(unchanged=1)
        yearly = replace(hourly, budget_period="year", contract_type=None)
        assert _upsert(conn, platform_id, [yearly], LATER) == UpsertCounts(updated=1)
        assert _rows(conn)["job-1"].budget_period == "year"


def test_the_upsert_function_writes_the_columns_the_package_prepares(pg_engine: Engine) -> None:
    """``upsert_opportunities_json`` (migration 0010) lists its columns in SQL: they must be the
    ones ``prepare_items`` writes, in each of its lists (read from the JSON, inserted, rewritten on
    change but for the key, with the owner and the time). A column added to the package without a
    revision replacing the function would otherwise be dropped from every row, silently."""
    from charlee_collector.store.opportunities import _WRITTEN_COLUMNS

    with pg_engine.connect() as conn:
        body = conn.execute(
            text("SELECT pg_get_functiondef('upsert_opportunities_json'::regproc)")
        ).scalar_one()
    body = " ".join(body.split())

    def listed(pattern: str) -> list[str]:
        match = re.search(pattern, body)
        assert match is not None, pattern
        return [part.strip() for part in match.group(1).split(",")]

    inserted = listed(r"INSERT INTO freelance_opportunities \((.*?)\) SELECT")
    assert inserted == ["user_id", "platform_id", "collected_at", "updated_at", "status", *_WRITTEN_COLUMNS]
    selected = listed(r"SELECT p_user_id, p_platform_id, p_now, p_now, 'new', (.*?) FROM json_to_recordset")
    assert selected == [f"r.{column}" for column in _WRITTEN_COLUMNS]
    record = listed(r"AS r\((.*?)\) ORDER BY")
    assert [field.split()[0] for field in record] == list(_WRITTEN_COLUMNS)
    rewritten = listed(r"DO UPDATE SET (.*?) WHERE")
    changed = [column for column in _WRITTEN_COLUMNS if column != "external_id"]
    assert rewritten == [f"{column} = excluded.{column}" for column in (*changed, "user_id", "updated_at")]
