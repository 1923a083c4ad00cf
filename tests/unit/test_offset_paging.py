"""When an offset-paged source asks for the next page: SmartRecruiters while ``totalFound`` says
more records follow (a full page when it gives no total), Landing.jobs while a page is full."""

from __future__ import annotations

import json

import pytest

from charlee_collector.sources import REGISTRY


def _page(payload: object) -> bytes:
    return json.dumps(payload).encode()


@pytest.mark.parametrize(
    ("payload", "offset", "more"),
    [
        ({"totalFound": 250, "content": [{}] * 100}, 0, True),
        ({"totalFound": 250, "content": [{}] * 100}, 100, True),
        ({"totalFound": 250, "content": [{}] * 50}, 200, False),
        ({"totalFound": 100, "content": [{}] * 100}, 0, False),  # exactly one page
        ({"content": [{}] * 100}, 0, True),  # no total: a full page may have a next
        ({"totalFound": "many", "content": [{}] * 99}, 0, False),
        ({"totalFound": True, "content": []}, 0, False),
        ([], 0, False),
    ],
)
def test_smartrecruiters_asks_while_total_found_says_more(payload, offset, more):
    assert REGISTRY["smartrecruiters"].has_more(_page(payload), offset, 100) is more


@pytest.mark.parametrize(
    ("payload", "more"),
    [([{"id": 1}] * 50, True), ([{"id": 1}] * 49, False), ([], False), ({"jobs": [{}] * 50}, False)],
)
def test_landing_jobs_asks_while_a_page_is_full(payload, more):
    assert REGISTRY["landingjobs"].has_more(_page(payload), 0, 50) is more
