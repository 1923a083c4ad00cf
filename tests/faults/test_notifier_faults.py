"""The notifier under duplicate SQS delivery and killed between the send and its record: no job
reaches a person twice (at most once; a kill at that point may lose the alert, never double it).

The notifier is the real handler (``handlers/notifier.py``), in a subprocess for the kill: the
loopback webhook holds its answer, the test waits until the request has arrived, then kills the
process before it can record the send; the next delivery of the same event sends nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import URL, Engine, select

from charlee_collector.app import runtime
from charlee_collector.core.aws import forget_secrets
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.support.alerts import add_jobs, add_rule, collected_body
from tests.support.moto_server import MotoServer

ROOT = Path(__file__).parents[2]
HOOK = "/services/T/B/fault"
SECRET = "charlee/test/alerts/fault-hook"


def sqs_event(records: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"h-{message_id}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:notifications",
                "awsRegion": "us-east-1",
            }
            for message_id, body in records
        ]
    }


@pytest.fixture
def notifier_env(
    postgres_url: URL, moto_server: MotoServer, http_server, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """The notifier's environment: the test database, Secrets Manager on moto holding the
    webhook's URL, the loopback server reachable."""
    secrets = boto3.client("secretsmanager", endpoint_url=moto_server.endpoint, **_dummy())
    try:
        secrets.create_secret(Name=SECRET, SecretString=json.dumps({"url": http_server.url(HOOK)}))
    except secrets.exceptions.ResourceExistsException:
        secrets.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"url": http_server.url(HOOK)}))
    env = {
        **moto_server.env,
        "DATABASE_URL": postgres_url.render_as_string(hide_password=False),
        "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "CharleeCollectorTest",
        "POWERTOOLS_SERVICE_NAME": "charlee-notifier",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    forget_secrets()
    yield env
    runtime.reset()
    forget_secrets()


def _dummy() -> dict[str, str]:
    return {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def handle(records: list[tuple[str, str]]) -> dict[str, Any]:
    import notifier_handler

    return notifier_handler.handler(sqs_event(records), LocalLambdaContext("NotifierFunction"))


def wait_for(condition, timeout: float = 30.0) -> None:
    """Until ``condition()`` holds (polled: the event is in another process or thread)."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        time.sleep(0.02)


def test_each_message_delivered_twice_at_once_sends_once(
    pg_engine: Engine, http_server, notifier_env
) -> None:
    http_server.route(HOOK, body="ok", delay=0.3)  # both deliveries are in flight together
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer", "Python lead"])
        add_rule(conn, secret=SECRET)
    records = [("m1", collected_body(1, ids[:1])), ("m2", collected_body(1, ids[1:]))]
    answers: list[dict[str, Any]] = []
    twins = [threading.Thread(target=lambda: answers.append(handle(records))) for _ in range(2)]
    for twin in twins:
        twin.start()
    for twin in twins:
        twin.join()
    assert answers == [{"batchItemFailures": []}] * 2
    assert handle(records) == {"batchItemFailures": []}  # and a third, later
    [request] = http_server.requests_to(HOOK)
    text = json.loads(request.body)["text"]
    assert "Python developer" in text and "Python lead" in text


NOTIFIER = """
import json, sys
from tests.faults.test_notifier_faults import handle
print(json.dumps(handle(json.loads(sys.argv[1]))), flush=True)
"""


def test_killed_between_the_send_and_its_record_never_sends_again(
    pg_engine: Engine, http_server, notifier_env: dict[str, str]
) -> None:
    from charlee_collector.store.tables import alert_deliveries

    http_server.route(HOOK, body="ok", delay=30)  # the answer the killed notifier never reads
    with pg_engine.begin() as conn:
        ids = add_jobs(conn, ["Python developer"])
        add_rule(conn, secret=SECRET)
    records = [("m1", collected_body(1, ids))]
    notifier = subprocess.Popen(
        [sys.executable, "-c", NOTIFIER, json.dumps(records)],
        cwd=ROOT,
        env={
            **os.environ,
            **notifier_env,
            "PYTHONPATH": os.pathsep.join(map(str, (ROOT / "shared", ROOT / "functions/notifier", ROOT))),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(http_server.requests_to(HOOK)) == 1 or notifier.poll() is not None)
        assert notifier.poll() is None, notifier.communicate()
        notifier.send_signal(signal.SIGKILL)  # sent, not recorded
        notifier.wait(timeout=30)
    finally:
        if notifier.poll() is None:
            notifier.kill()
    with pg_engine.connect() as conn:
        assert conn.execute(select(alert_deliveries.c.state)).scalars().all() == ["claimed"]

    # SQS delivers the event again (the killed invocation never answered): nothing is sent.
    http_server.route(HOOK, body="ok")
    assert handle(records) == {"batchItemFailures": []}
    assert len(http_server.requests_to(HOOK)) == 1
    with pg_engine.connect() as conn:
        assert conn.execute(select(alert_deliveries.c.state)).scalars().all() == ["claimed"]
