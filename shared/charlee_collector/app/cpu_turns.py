"""Turns at the CPU: at most ``TURNS`` collections of this process parse or write at once.

The collector runs a batch's records on threads (``batch.py``) so that their waits on the
platforms overlap. What follows a wait (parsing the payload, the upsert and the run record) is
Python work under one GIL: ten threads doing it at once do not finish sooner, they take turns
at every socket call, and the handoffs cost CPU of their own. Measured on the collector batch
bench (10 platforms answering after 100 ms, 50 items each): 30-35 ms of CPU per record with all
ten at once against 22-25 ms with two turns, the same as one collection alone; with turns for
the parsing only, 28-31 ms. Two, not one: a turn's database round trips leave the CPU to the
other.

A turn is taken between transactions, never inside one, so nobody waits for a turn while
holding a lock. The collection's record transaction (``collect._record``) runs inside its turn:
every lock it waits for is held by another record transaction, which holds a turn and needs
nothing more to finish. While the database stalls, at most ``TURNS`` records wait inside it;
the others wait for a turn, as they would wait for the database.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

TURNS = 2
_turns = threading.BoundedSemaphore(TURNS)


@contextmanager
def cpu_turn() -> Iterator[None]:
    """Run the block once fewer than ``TURNS`` other threads are in theirs."""
    with _turns:
        yield
