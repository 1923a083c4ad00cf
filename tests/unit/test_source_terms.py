"""Each source keeps its API's minimum interval, where it comes from, and an example config; the
seeded platforms keep to those minimums."""

from __future__ import annotations

import pytest

from charlee_collector.core.limits import MAX_INTERVAL_MINUTES
from charlee_collector.sources import REGISTRY, validate_config
from charlee_collector_tools.local.defaults import DEFAULT_PLATFORMS


@pytest.mark.parametrize("key", list(REGISTRY))
def test_every_source_states_its_minimum_interval_and_a_valid_example(key: str) -> None:
    source = REGISTRY[key]
    assert 1 <= source.min_interval_minutes <= MAX_INTERVAL_MINUTES
    assert source.interval_terms.strip()
    validate_config(key, source.example)


def test_the_apis_that_ask_for_a_few_requests_a_day_get_them() -> None:
    # Remotive: "max. 4 times a day"; Jobicy: "a few times per day" (their payloads' notices).
    assert REGISTRY["remotive"].min_interval_minutes >= 360
    assert REGISTRY["jobicy"].min_interval_minutes >= 360


@pytest.mark.parametrize("platform", DEFAULT_PLATFORMS, ids=lambda p: p["source"])
def test_each_seeded_platform_respects_its_sources_minimum(platform: dict[str, object]) -> None:
    minimum = REGISTRY[str(platform["source"])].min_interval_minutes
    interval = platform["collection_interval_minutes"]
    assert isinstance(interval, int) and minimum <= interval <= MAX_INTERVAL_MINUTES
    validate_config(str(platform["source"]), platform["config"])  # type: ignore[arg-type]
