"""The notifier Lambda's handler on its schedule's event: the digests that are due go out
(the SQS path is in tests/faults/test_notifier_faults.py, with the same environment)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from charlee_collector_tools.local.handlers import LocalLambdaContext, scheduled_event
from tests.faults.test_notifier_faults import HOOK, SECRET, notifier_env  # noqa: F401 (a fixture)
from tests.support.alerts import add_jobs, add_rule


def test_the_schedule_sends_the_digests_that_are_due(pg_engine: Engine, http_server, notifier_env) -> None:  # noqa: F811
    import notifier_handler

    http_server.route(HOOK, body="ok")
    now = datetime.now(UTC)
    with pg_engine.begin() as conn:
        add_jobs(conn, ["Python developer"], collected_at=now - timedelta(hours=1))
        # This hour's and the next: whichever hour the call falls in, exactly one is due.
        for hour in (now.hour, (now + timedelta(hours=1)).hour):
            add_rule(conn, secret=SECRET, mode="digest", every="daily", hour=hour, timezone="UTC")
    answer = notifier_handler.handler(scheduled_event(), LocalLambdaContext("NotifierFunction"))
    assert answer == {"digests_sent": 1}
    [request] = http_server.requests_to(HOOK)
    assert "Python developer" in json.loads(request.body)["text"]
