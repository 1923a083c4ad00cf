"""Turns at the CPU: at most ``TURNS`` collections of this process parse or write at once.

The collector runs a batch's records on threads (``batch.py``) so that their waits on the
platforms overlap. What follows a wait (parsing the payload, the upsert and the run record) is
Python work under one GIL: ten threads doing it at once do not finish sooner, they take turns
at every socket call, and the handoffs cost CPU of their own. Measured on the collector batch
bench (10 platforms answering after 100 ms, 50 items each): 30-35 ms of CPU per record with all
ten at once against 22-25 ms with two turns, the same as one collection alone. Two, not one: a
turn's database round trips leave the CPU to the other. Waiting for a turn happens between
transactions, never inside one, so no lock is held while waiting.
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
