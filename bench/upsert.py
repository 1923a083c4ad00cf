"""How fast opportunities land in PostgreSQL: the bulk upsert against the legacy loop and COPY.

Run from the repository root: ``.venv/bin/python bench/upsert.py`` (``--profile`` adds a
cProfile of one bulk call). One figure per line, ``name value unit``:

- ``upsert_bulk``: ``storage.upsert_opportunities`` with 20,000 realistic items (title ~60 chars,
  description ~1 KB, 5 skills, a ~10-key raw dict) into an empty platform, commit included;
  ``upsert_bulk_unchanged`` is the same call again (every item unchanged).
- ``upsert_per_row_orm``: what the replaced Celery system did: per item a Session SELECT, then
  add or update, and a commit per row. 20,000 of those take minutes, so a sample of 2,000 is
  timed (the name says so).
- ``upsert_copy``: COPY of the same rows into a scratch table with the same columns and indexes,
  counting what any method must do first (hash each item, encode it: CSV here) plus the COPY;
  ``upsert_copy_wire`` is the COPY statement alone on pre-encoded bytes, the physical bound for
  getting these rows into these indexes. ``..._vs_copy`` ratios use the first, ``..._vs_copy_wire``
  the second.
- ``upsert_scaling_<n>``: the shipped bulk upsert at 1k, 10k and 100k rows.
- ``upsert_25_items_latency_ms``: one collection's upsert (25 new items, commit included), the
  median of 50; ``..._nagle_on`` is the same on an engine that turns Nagle back on (TCP_NODELAY=0
  after the engine's own connect hook), so the cost of the delayed-ACK stall shows in one run.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import json
import pstats
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from _db import report, scratch_database
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.orm import DeclarativeBase, Session

from charlee_collector.core.clock import utcnow
from charlee_collector.core.opportunity import HASHED_FIELDS, Opportunity
from charlee_collector.store.opportunities import UpsertCounts, upsert_opportunities
from charlee_collector.store.tables import metadata, opportunities, platforms

ITEMS = 20_000
PER_ROW_SAMPLE = 2_000
SCALING = (1_000, 10_000, 100_000)
LATENCY_ITEMS, LATENCY_SAMPLES = 25, 50
USER_ID = 1
T = TypeVar("T")

WORDS = (
    *("python", "django", "fastapi", "aws", "lambda", "postgres", "api", "backend", "senior", "remote"),
    *("contract", "developer", "data", "pipeline", "react", "typescript", "cloud", "migration"),
    *("engineer", "platform", "scraping", "kubernetes", "terraform", "startup", "fintech"),
    *("healthcare", "analytics", "machine", "learning", "team", "client", "project", "long-term"),
    *("hourly", "weekly", "deliverables", "documentation", "testing", "integration", "security"),
)
SKILLS = ("python", "django", "aws", "postgresql", "react", "typescript", "docker", "kubernetes")
COUNTRIES = ("Germany", "United States", "Brazil", "India", "Portugal", "Canada", "Poland")


class _Base(DeclarativeBase):
    metadata = metadata


class FreelanceOpportunity(_Base):
    """An opportunity as an ORM object, the way the replaced Celery system wrote them (the per-row
    baseline): mapped onto the package's table, its columns taken from it."""

    __table__ = opportunities


def make_items(count: int, *, prefix: str = "job", seed: int = 20_000) -> list[Opportunity]:
    """``count`` normalised opportunities of realistic size; the same seed gives the same items."""
    rng = random.Random(seed)
    # A pool of texts keeps generation cheap; the item number makes every one distinct.
    titles = [" ".join(rng.choices(WORDS, k=12))[:56] for _ in range(97)]
    descriptions = [" ".join(rng.choices(WORDS, k=160))[:1000] for _ in range(101)]
    posted = datetime(2026, 1, 15, tzinfo=UTC)
    items = []
    for n in range(count):
        skills = rng.sample(SKILLS, 5)
        budget = Decimal(rng.randrange(5_000, 5_000_000)) / 100
        url = f"https://jobs.example.org/{prefix}/{n}-{titles[n % 97][:24].replace(' ', '-')}"
        items.append(
            Opportunity(
                external_id=f"{prefix}-{n}",
                title=f"{titles[n % 97]} {n}",
                description=f"{descriptions[n % 101]} #{n}",
                url=url,
                client_name=f"Client {n % 1_000} GmbH",
                client_country=COUNTRIES[n % len(COUNTRIES)],
                required_skills=skills,
                category="Software Development",
                client_budget=budget,
                client_currency="USD",
                contract_type="hourly" if n % 3 else "fixed_price",
                posted_at=posted - timedelta(minutes=n),
                raw={
                    "id": n,
                    "slug": f"{prefix}-{n}",
                    "position": titles[n % 97],
                    "company": f"Client {n % 1_000} GmbH",
                    "tags": skills,
                    "salary_min": int(budget),
                    "salary_max": int(budget) * 2,
                    "location": COUNTRIES[n % len(COUNTRIES)],
                    "date": (posted - timedelta(minutes=n)).isoformat(),
                    "views": n % 977,
                },
            )
        )
    return items


def _timed(action: Callable[[], T]) -> tuple[float, T]:
    """Seconds ``action`` took, and what it gave back."""
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def _new_platform(engine: Engine, name: str) -> int:
    now = utcnow()
    row = {
        "user_id": USER_ID,
        "name": name,
        "source": "rss",
        "config": {},
        "created_at": now,
        "updated_at": now,
    }
    with engine.begin() as conn:
        return int(conn.execute(platforms.insert().values(**row).returning(platforms.c.id)).scalar_one())


# --- (a) the shipped bulk upsert -----------------------------------------------------------------


def bulk_upsert(engine: Engine, platform_id: int, items: Sequence[Opportunity]) -> UpsertCounts:
    with engine.begin() as conn:
        return upsert_opportunities(conn, platform_id=platform_id, user_id=USER_ID, items=items, now=utcnow())


# --- (b) the legacy per-row ORM loop -------------------------------------------------------------

_ORM_FIELDS = (*HASHED_FIELDS, "raw")


def per_row_orm(engine: Engine, platform_id: int, items: Sequence[Opportunity]) -> int:
    """Look each item up, add or update it, commit: one transaction (and ~4 round trips) per item."""
    with Session(engine) as session:
        for item in items:
            content_hash = item.content_hash
            row = session.scalars(
                select(FreelanceOpportunity).where(
                    FreelanceOpportunity.platform_id == platform_id,
                    FreelanceOpportunity.external_id == item.external_id,
                )
            ).first()
            now = utcnow()
            if row is None:
                session.add(
                    FreelanceOpportunity(
                        user_id=USER_ID,
                        platform_id=platform_id,
                        external_id=item.external_id,
                        collected_at=now,
                        updated_at=now,
                        content_hash=content_hash,
                        status="new",
                        **{name: getattr(item, name) for name in _ORM_FIELDS},
                    )
                )
            elif row.content_hash != content_hash:
                for name in _ORM_FIELDS:
                    setattr(row, name, getattr(item, name))
                row.content_hash, row.updated_at = content_hash, now
            session.commit()
    return len(items)


# --- (c) COPY: the physical bound ----------------------------------------------------------------

_COPY_COLUMNS = (
    "user_id",
    "platform_id",
    "external_id",
    *HASHED_FIELDS,
    "collected_at",
    "updated_at",
    "content_hash",
    "raw",
    "status",
)


def _csv_rows(items: Sequence[Opportunity], platform_id: int, now: datetime) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    stamp = now.isoformat()
    for item in items:
        writer.writerow(
            (
                USER_ID,
                platform_id,
                item.external_id,
                item.title,
                item.description,
                item.url,
                item.client_name,
                item.client_country,
                json.dumps(item.required_skills),
                item.category,
                item.client_budget,
                item.client_currency,
                item.contract_type,
                item.posted_at.isoformat() if item.posted_at else None,
                stamp,
                stamp,
                item.content_hash,
                json.dumps(item.raw),
                "new",
            )
        )
    return buffer.getvalue().encode("utf-8")


def copy_rows(engine: Engine, payload: bytes) -> None:
    """COPY already CSV-encoded rows into the scratch table, and commit."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            f"COPY bench_copy_target ({', '.join(_COPY_COLUMNS)}) FROM STDIN WITH (FORMAT csv)",
            stream=io.BytesIO(payload),
        )
        raw.commit()
    finally:
        raw.close()


def create_copy_target(engine: Engine) -> None:
    with engine.begin() as conn:
        # Same columns, defaults, unique constraint and indexes: COPY pays the same index upkeep.
        conn.execute(text("CREATE TABLE bench_copy_target (LIKE freelance_opportunities INCLUDING ALL)"))


# --- the run -------------------------------------------------------------------------------------


def _expect(counts: UpsertCounts, expected: UpsertCounts, what: str) -> None:
    if counts != expected:
        raise SystemExit(f"{what}: expected {expected}, got {counts}")


def compare(engine: Engine) -> None:
    """(a), (b) and (c) on the same 20,000 items; the ratios the targets name."""
    items = make_items(ITEMS)

    platform = _new_platform(engine, "bulk")
    bulk, counts = _timed(lambda: bulk_upsert(engine, platform, items))
    _expect(counts, UpsertCounts(inserted=ITEMS), "bulk")
    unchanged, counts = _timed(lambda: bulk_upsert(engine, platform, items))
    _expect(counts, UpsertCounts(unchanged=ITEMS), "bulk unchanged")

    per_row_platform = _new_platform(engine, "per-row")
    per_row, _ = _timed(lambda: per_row_orm(engine, per_row_platform, items[:PER_ROW_SAMPLE]))

    create_copy_target(engine)
    encode, payload = _timed(lambda: _csv_rows(items, platform, utcnow()))
    wire, _ = _timed(lambda: copy_rows(engine, payload))
    copy = encode + wire

    bulk_rate, per_row_rate = ITEMS / bulk, PER_ROW_SAMPLE / per_row
    copy_rate, wire_rate = ITEMS / copy, ITEMS / wire
    report("upsert_bulk_rows_per_s", bulk_rate, "rows/s")
    report("upsert_bulk_unchanged_rows_per_s", ITEMS / unchanged, "rows/s")
    report(f"upsert_per_row_orm_sample_{PER_ROW_SAMPLE}_rows_per_s", per_row_rate, "rows/s")
    report("upsert_copy_rows_per_s", copy_rate, "rows/s")
    report("upsert_copy_wire_rows_per_s", wire_rate, "rows/s")
    report("upsert_bulk_vs_per_row", bulk_rate / per_row_rate, "x")
    report("upsert_bulk_vs_copy", bulk_rate / copy_rate, "x")
    report("upsert_bulk_vs_copy_wire", bulk_rate / wire_rate, "x")


def scaling(engine: Engine) -> None:
    """The shipped bulk upsert at growing sizes, each into a platform of its own."""
    for count in SCALING:
        items = make_items(count, prefix=f"scale{count}", seed=count)
        platform = _new_platform(engine, f"scaling {count}")
        seconds, counts = _timed(lambda: bulk_upsert(engine, platform, items))  # noqa: B023
        _expect(counts, UpsertCounts(inserted=count), f"scaling {count}")
        report(f"upsert_scaling_{count}", count / seconds, "rows/s")


def _upsert_latency_ms(engine: Engine, name: str) -> float:
    """Median milliseconds of one ``LATENCY_ITEMS``-item upsert, new items each time, after a warm-up."""
    platform = _new_platform(engine, name)
    bulk_upsert(engine, platform, make_items(LATENCY_ITEMS, prefix=f"{name}-warm-up"))
    times = []
    for n in range(LATENCY_SAMPLES):
        items = make_items(LATENCY_ITEMS, prefix=f"{name}-{n}", seed=n)
        seconds, _ = _timed(lambda: bulk_upsert(engine, platform, items))  # noqa: B023
        times.append(seconds * 1000)
    return statistics.median(times)


def latency(engine: Engine) -> None:
    """One collection-sized upsert as shipped (TCP_NODELAY on), and with Nagle on beside it."""
    # pg8000 connecting as it does by itself (its own socket: Nagle on), through SQLAlchemy alone.
    nagle = create_engine(engine.url, pool_size=1, connect_args={"ssl_context": False})
    try:
        report("upsert_25_items_latency_ms", _upsert_latency_ms(engine, "latency"), "ms")
        report("upsert_25_items_latency_ms_nagle_on", _upsert_latency_ms(nagle, "latency-nagle"), "ms")
    finally:
        nagle.dispose()


def profile(engine: Engine, count: int = 5_000) -> None:
    """Where one bulk call spends its time (cProfile, top functions by own time)."""
    items = make_items(count, prefix="profile")
    platform = _new_platform(engine, "profile")
    profiler = cProfile.Profile()
    profiler.runcall(bulk_upsert, engine, platform, items)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(12)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true", help="also profile one bulk call")
    parser.add_argument("--no-scaling", action="store_true", help="skip the 1k/10k/100k series")
    args = parser.parse_args()
    with scratch_database() as engine:
        compare(engine)
        latency(engine)
        if not args.no_scaling:
            scaling(engine)
        if args.profile:
            profile(engine)


if __name__ == "__main__":
    main()
