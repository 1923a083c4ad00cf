"""Turns at the CPU: at most ``TURNS`` collections of this process parse or write at once.

``cpu_turn()`` wraps the Python work that follows a wait on a platform (parsing, the upsert and the
run record); the waits themselves still overlap on the batch's threads (``sqs_batch``). A turn is
taken between transactions, never inside one, so nobody waits for a turn while holding a lock: the
record transaction runs inside its turn, and every lock it waits for is held by another record
transaction, which holds a turn and needs nothing more. Why turns: docs/decisions.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

TURNS = 2  # two, not one: a turn's database round trips leave the CPU to the other
_turns = threading.BoundedSemaphore(TURNS)


@contextmanager
def cpu_turn() -> Iterator[None]:
    """Run the block once fewer than ``TURNS`` other threads are in theirs."""
    with _turns:
        yield
