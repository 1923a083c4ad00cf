"""At most TURNS collections of a process parse or write at once; the others wait their turn."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from charlee_collector.app import cpu_turns
from charlee_collector.app.cpu_turns import TURNS, cpu_turn
from charlee_collector.core.opportunity import Opportunity
from charlee_collector.sources.base import BaseSourceConfig, Source


def test_no_more_than_turns_threads_are_inside_at_once() -> None:
    inside = threading.Semaphore(0)  # released once per thread that got in
    leave = threading.Event()
    lock = threading.Lock()
    count = {"now": 0, "most": 0}

    def work() -> None:
        with cpu_turn():
            with lock:
                count["now"] += 1
                count["most"] = max(count["most"], count["now"])
            inside.release()
            assert leave.wait(30)
            with lock:
                count["now"] -= 1

    with ThreadPoolExecutor(max_workers=TURNS + 2) as pool:
        futures = [pool.submit(work) for _ in range(TURNS + 2)]
        for _ in range(TURNS):
            assert inside.acquire(timeout=30)
        # The other two are waiting for a turn: none of them can get in while the first hold theirs.
        assert not inside.acquire(timeout=0.2)
        assert count["now"] == TURNS
        leave.set()
        for future in futures:
            future.result(timeout=30)
    assert count["most"] == TURNS


class _Probe(Source):
    key = "probe"
    Config = BaseSourceConfig

    def __init__(self, seen: list[int]) -> None:
        self.seen = seen

    def parse(self, body: bytes, config: Any) -> list[Opportunity]:
        self.seen.append(cpu_turns._turns._value)  # the turns free now
        return [Opportunity(external_id="1", title="t")]


def test_a_source_parses_in_the_turn_its_collection_hands_it_and_gives_it_back() -> None:
    seen: list[int] = []
    items = _Probe(seen).parse_payload(b"{}", BaseSourceConfig(), cpu_turn)
    assert [item.external_id for item in items] == ["1"]
    assert seen == [TURNS - 1]
    assert cpu_turns._turns._value == TURNS
