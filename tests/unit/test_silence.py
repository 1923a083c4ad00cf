"""The silence rule (store/silence.py): what the successful runs fetched, newest first."""

from __future__ import annotations

import pytest

from charlee_collector.store.silence import Silence, silence_of


@pytest.mark.parametrize(
    ("fetched", "usual"),
    [
        ([0, 0, 0, 19], 19.0),  # one run with items, then three with none
        ([0, 0, 0, 20, 18, 0, 22], 19.0),  # the median of the runs before, an empty one among them
        ([1, 0, 1, 20, 20, 20], 20.0),  # far fewer than usual: each under a tenth of it
        ([0, 0, 0, *[5] * 10, *[0] * 30], 5.0),  # only the 10 runs before the last 3 say what is usual
    ],
)
def test_runs_that_stopped_yielding_are_silent(fetched: list[int], usual: float) -> None:
    assert silence_of(7, fetched) == Silence(7, tuple(fetched[:3]), usual)


@pytest.mark.parametrize(
    "fetched",
    [
        [0, 0, 19],  # two empty runs in a row are not yet three
        [0, 0, 0],  # no earlier run says what is usual
        [0, 19, 0, 0, 19],  # an item in between: not three in a row
        [0, 0, 0, 0, 0, 3, 0],  # usually nothing: the median is 0
        [2, 0, 0, 20],  # 2 is a tenth of 20: not under it
        [5, 5, 5, 5],
        [],
        [*[0] * 3, *[0] * 10, 19],  # the run with items is older than the 10 that say what is usual
    ],
)
def test_other_histories_are_not_silent(fetched: list[int]) -> None:
    assert silence_of(7, fetched) is None


def test_describe_names_the_counts() -> None:
    assert Silence(7, (0, 1, 0), 19.5).describe() == (
        "yes: the last 3 successful runs fetched 0, 1, 0, usually 19.5"
    )
