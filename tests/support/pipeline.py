"""The handlers' environment for whole-flow tests: the test database, the mocked queue, the local server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import URL

from charlee_collector.app import runtime
from tests.support.aws import Queues


@pytest.fixture
def pipeline_env(
    monkeypatch: pytest.MonkeyPatch, postgres_url: URL, queues: Queues, allow_private_networks: object
) -> Iterator[None]:
    """The handlers' environment: the test database, the mocked queue, private networks allowed."""
    monkeypatch.setenv("DATABASE_URL", postgres_url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLLECT_QUEUE_URL", queues.url)
    monkeypatch.setenv("TIME_MARGIN_MS", "1000")
    runtime.reset()
    yield
    runtime.reset()
