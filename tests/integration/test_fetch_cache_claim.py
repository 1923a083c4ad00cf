"""``fetch_cache.claim`` on a key nobody has claimed yet: the row is inserted already leased (one
statement), and a collector that races another to insert it reads the winner's row instead."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, event, select, text

from charlee_collector.core.clock import utcnow
from charlee_collector.politeness import shared_fetches as fetch_cache
from charlee_collector.store.tables import fetch_cache as fetch_cache_table
from tests.support.db import wait_for

URL = httpx.URL("https://jobs.example/feed?page=1")
WINDOW = timedelta(minutes=15)
LEASE = timedelta(minutes=2)


def _claim(conn: Any, owner: str, key: str = "k" * 64) -> fetch_cache.Claim:
    return fetch_cache.claim(
        conn, key, owner, source="rss", url=URL, now=utcnow(), window=WINDOW, lease_for=LEASE
    )


def test_a_new_key_is_inserted_leased_in_one_statement(pg_engine: Engine) -> None:
    sent: list[str] = []
    event.listen(pg_engine, "before_cursor_execute", lambda *args: sent.append(args[2]))
    with pg_engine.begin() as conn:
        claim = _claim(conn, "first")

    writes = [s for s in sent if s.lstrip().startswith(("INSERT", "UPDATE"))]
    assert len(writes) == 1 and "fetch_cache" in writes[0]
    assert (claim.state, claim.entry.lease_owner, claim.entry.body) == ("leased", "first", None)
    with pg_engine.connect() as conn:
        row = conn.execute(select(fetch_cache_table)).one()
    assert (row.key, row.source, row.host, row.lease_owner) == ("k" * 64, "rss", "jobs.example", "first")
    assert row.lease_until == claim.entry.lease_until
    # Leased, so the next collector waits for this fetch instead of making its own.
    with pg_engine.begin() as conn:
        assert _claim(conn, "second").state == "busy"


def test_the_loser_of_a_race_to_insert_a_new_key_reads_the_winners_lease(pg_engine: Engine) -> None:
    winner = pg_engine.connect()
    winner.begin()
    assert _claim(winner, "winner").state == "leased"  # inserted, not committed yet
    answers: list[fetch_cache.Claim] = []

    def lose() -> None:
        with pg_engine.begin() as conn:
            answers.append(_claim(conn, "loser"))

    loser = threading.Thread(target=lose)
    loser.start()
    try:
        # The loser's insert waits on the winner's uncommitted row before the winner commits.
        wait_for(lambda: _waiting_on_a_lock(pg_engine))
        winner.commit()
    finally:
        winner.close()
        loser.join(timeout=30)
    assert [(a.state, a.entry.lease_owner) for a in answers] == [("busy", "winner")]


def _waiting_on_a_lock(engine: Engine) -> bool:
    with engine.connect() as conn:
        waiting = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO fetch_cache%'"
            )
        ).scalar_one()
    return bool(waiting)
