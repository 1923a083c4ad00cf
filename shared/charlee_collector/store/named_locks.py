"""A lock on a name, held until the transaction ends: one holder at a time across every process.

``hold_named_lock(conn, name, wait_seconds=...)`` takes a transaction-level advisory lock keyed on
``name`` (two 32-bit keys: this module's key space and the name's hash, so it never meets the
migration lock's single 64-bit key). Waiting longer than ``wait_seconds`` raises the database's
lock timeout (a ``DBAPIError``), as an unavailable database does: the caller decides what either
means. Two names of one hash share a lock, which only makes one of them wait its turn.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

# The first key of every named lock: any constant no other code of this database uses.
NAMED_LOCK_SPACE = 0x43C0  # "Charlee Collector"


def hold_named_lock(conn: Connection, name: str, *, wait_seconds: float) -> None:
    """Wait (at most ``wait_seconds``) for the lock on ``name``, held until ``conn``'s transaction ends."""
    # lock_timeout 0 would mean "wait forever": at least a millisecond.
    milliseconds = max(1, int(wait_seconds * 1000))
    conn.execute(text("SELECT set_config('lock_timeout', :timeout, true)"), {"timeout": f"{milliseconds}ms"})
    conn.execute(
        text("SELECT pg_advisory_xact_lock(:space, hashtext(:name))"),
        {"space": NAMED_LOCK_SPACE, "name": name},
    )
