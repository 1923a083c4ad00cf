"""Shared fixtures: a real PostgreSQL database, the embedded one, the local HTTP server, moto AWS."""

import os

import pytest

from charlee_collector.observability.metrics import metrics

# Tests collect one platform again and again against routes they change between collections; a
# shared response would answer those from the cache. Sharing is on (the code's default) only
# where a test turns it on: tests/integration/test_shared_fetch.py and tests/faults/test_host_limits.py.
os.environ.setdefault("SHARED_FETCH_WINDOW_SECONDS", "0")

pytest_plugins = [
    "tests.support.db",
    "tests.support.aws",
    "tests.support.http_server",
    "tests.support.moto_server",
    "tests.support.pipeline",
    "tests.support.upwork_server",
]


@pytest.fixture(autouse=True)
def _no_metrics_from_earlier_tests() -> None:
    """Collections run outside a handler (no flush at its end) leave metrics in the process-wide
    ``metrics`` object: each test starts from an empty set, as each Lambda invocation does."""
    metrics.clear_metrics()
