"""Shared fixtures: a real PostgreSQL (and SQLite) database, the local HTTP server, moto AWS."""

import pytest

from charlee_collector.observability import metrics

pytest_plugins = [
    "tests.support.db",
    "tests.support.aws",
    "tests.support.http_server",
    "tests.support.moto_server",
    "tests.support.pipeline",
]


@pytest.fixture(autouse=True)
def _no_metrics_from_earlier_tests() -> None:
    """Collections run outside a handler (no flush at its end) leave metrics in the process-wide
    ``metrics`` object: each test starts from an empty set, as each Lambda invocation does."""
    metrics.clear_metrics()
