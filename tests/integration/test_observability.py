"""What the handlers write, captured: EMF metrics, JSON log lines with correlation keys, no secrets.

Both handlers run in this process against the test PostgreSQL, moto (SQS and Secrets Manager)
and the local HTTP server; stdout (log lines and EMF blobs), stderr and caplog are captured
and read back. The tracing test runs the handlers in a subprocess, because X-Ray patching is
process-wide.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import traceback
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import collector_handler
import dispatcher_handler
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from sqlalchemy import URL, Engine, select, update

from charlee_collector.app import publishing as outbox
from charlee_collector.app import runtime
from charlee_collector.app.collected_event import CollectedEvent
from charlee_collector.app.sqs_batch import ConcurrentSqsProcessor
from charlee_collector.core.aws import forget_secrets
from charlee_collector.core.clock import utcnow
from charlee_collector.handlers import collector as collector_body
from charlee_collector.observability.logger import logger
from charlee_collector.observability.metrics import METRIC_NAMES, POWERTOOLS_METRICS, Metric
from charlee_collector.store import host_slots as host_limits
from charlee_collector.store.tables import event_outbox, platforms, runs
from charlee_collector_tools.local.handlers import LocalLambdaContext, scheduled_event
from charlee_collector_tools.local.poller import sqs_event
from tests.support.aws import Queues
from tests.support.factories import add_platform, add_runs

ROOT = Path(__file__).resolve().parents[2]
SECRET = "SUPER-SECRET-VALUE-123"
SECRET_NAME = "charlee/platforms/test"
DB_PASSWORD = "DBPASS-XYZ"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:collect"
CORRELATION_KEYS = ("platform_id", "message_id", "trigger")


# --- capturing -------------------------------------------------------------------------------


@dataclass
class Output:
    """Everything the handlers wrote: stdout (JSON log lines and EMF blobs), stderr, caplog."""

    capsys: pytest.CaptureFixture[str]
    caplog: pytest.LogCaptureFixture
    out: str = ""
    err: str = ""

    def read(self) -> Output:
        captured = self.capsys.readouterr()
        self.out += captured.out
        self.err += captured.err
        return self

    def everything(self) -> str:
        self.read()
        return "\n".join([self.out, self.err, self.caplog.text])

    def lines(self) -> list[dict[str, Any]]:
        self.read()
        return [json.loads(line) for line in self.out.splitlines() if line.startswith("{")]

    def emf(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "_aws" in line]

    def logs(self) -> list[dict[str, Any]]:
        return [line for line in self.lines() if "_aws" not in line]

    def clear(self) -> None:
        self.read()
        self.out = self.err = ""
        self.caplog.clear()


class _CurrentStdout:
    """Writes to whatever ``sys.stdout`` is now: pytest swaps its capture between setup and call."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> Iterator[Output]:
    """The Powertools handler pointed at the captured stdout (it kept the one of import time)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.stream
    handler.stream = _CurrentStdout()
    caplog.set_level(logging.DEBUG)
    try:
        yield Output(capsys, caplog)
    finally:
        handler.stream = previous


def metric_values(blobs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Each metric name with every value it was given, over all blobs."""
    values: dict[str, list[float]] = {}
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


def units(blobs: list[dict[str, Any]]) -> dict[str, str]:
    return {
        metric["Name"]: metric["Unit"]
        for blob in blobs
        for directive in blob["_aws"]["CloudWatchMetrics"]
        for metric in directive["Metrics"]
    }


def assert_low_cardinality(blobs: list[dict[str, Any]]) -> None:
    """One namespace; dimensions are the service (and function_name for ColdStart), never a platform."""
    namespaces = {d["Namespace"] for blob in blobs for d in blob["_aws"]["CloudWatchMetrics"]}
    assert len(namespaces) == 1
    for blob in blobs:
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            names = {m["Name"] for m in directive["Metrics"]}
            for dimensions in directive["Dimensions"]:
                expected = {"service", "function_name"} if names == {"ColdStart"} else {"service"}
                if names == {"AlertLatency"} and "source" in dimensions:
                    expected = {"service", "source"}  # publish_by_source: a few dozen source keys
                assert set(dimensions) == expected, (names, dimensions)
        assert "platform_id" not in blob


# --- environment -----------------------------------------------------------------------------


@pytest.fixture
def env(
    monkeypatch: pytest.MonkeyPatch, postgres_url: URL, queues: Queues, allow_private_networks: object
) -> Iterator[Queues]:
    """The handlers' environment: the test database, moto SQS and Secrets Manager, private networks."""
    monkeypatch.setenv("DATABASE_URL", postgres_url.render_as_string(hide_password=False))
    monkeypatch.setenv("COLLECT_QUEUE_URL", queues.url)
    monkeypatch.setenv("TIME_MARGIN_MS", "1000")
    forget_secrets()
    runtime.reset()
    yield queues
    runtime.reset()
    forget_secrets()


def collect(*bodies: dict[str, Any] | str) -> tuple[dict[str, Any], list[str]]:
    """Run the collector handler on one SQS batch; returns its answer and the message ids."""
    ids = [str(uuid.uuid4()) for _ in bodies]
    messages = [
        {"MessageId": mid, "ReceiptHandle": f"rh-{mid}", "Body": b if isinstance(b, str) else json.dumps(b)}
        for mid, b in zip(ids, bodies, strict=True)
    ]
    answer = collector_handler.handler(
        sqs_event(messages, QUEUE_ARN), LocalLambdaContext("CollectorFunction")
    )
    return answer, ids


def dispatch(event: dict[str, Any]) -> dict[str, int]:
    return dispatcher_handler.handler(event, LocalLambdaContext("DispatcherFunction"))


def jobs_payload(*jobs: tuple[str, str]) -> str:
    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0).isoformat()
    return json.dumps(
        {
            "jobs": [
                {"id": key, "title": title, "url": f"https://example.org/{key}", "created_at": now}
                for key, title in jobs
            ]
        }
    )


def json_api(url: str, **extra: Any) -> dict[str, Any]:
    fields = {
        "external_id": "id",
        "title": "title",
        "url": "url",
        "description": None,
        "posted_at": "created_at",
    }
    return {"url": url, "items": "jobs", "fields": fields, **extra}


# --- metrics ---------------------------------------------------------------------------------


def test_a_known_run_emits_the_expected_metrics(
    env: Queues, pg_engine: Engine, http_server: Any, output: Output
) -> None:
    http_server.route("/jobs.json", body=jobs_payload(("a", "Job A"), ("b", "Job B"), ("c", "Job C")))
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=json_api(http_server.url("/jobs.json")))

    answer, _ = collect({"platform_id": platform_id})

    assert answer == {"batchItemFailures": []}
    blobs = output.emf()
    values = metric_values(blobs)
    assert values[Metric.OPPORTUNITIES_FETCHED] == [3]
    assert values[Metric.OPPORTUNITIES_INSERTED] == [3]
    assert values[Metric.OPPORTUNITIES_UPDATED] == [0]
    assert values[Metric.COLLECTION_SUCCESS] == [1]
    assert len(values[Metric.COLLECTION_DURATION]) == 1
    assert values[Metric.COLLECTION_DURATION][0] >= 0
    assert units(blobs)[Metric.COLLECTION_DURATION] == "Milliseconds"
    assert_low_cardinality(blobs)

    # One item changes, the others stay: 1 updated, 0 inserted.
    output.clear()
    http_server.route(
        "/jobs.json", body=jobs_payload(("a", "Job A"), ("b", "Job B, now remote"), ("c", "Job C"))
    )
    collect({"platform_id": platform_id, "trigger": "on_demand"})

    blobs = output.emf()
    values = metric_values(blobs)
    assert values[Metric.OPPORTUNITIES_FETCHED] == [3]
    assert values[Metric.OPPORTUNITIES_INSERTED] == [0]
    assert values[Metric.OPPORTUNITIES_UPDATED] == [1]
    assert values[Metric.COLLECTION_SUCCESS] == [1]
    assert_low_cardinality(blobs)


def test_the_run_log_line_and_record_carry_what_the_filters_dropped(
    env: Queues, pg_engine: Engine, http_server: Any, output: Output
) -> None:
    http_server.route("/jobs.json", body=jobs_payload(("a", "Python job"), ("b", "Go job"), ("c", "PHP job")))
    config = json_api(http_server.url("/jobs.json"), keywords=["rust"])  # drops all three
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config)

    answer, [message_id] = collect({"platform_id": platform_id})

    assert answer == {"batchItemFailures": []}
    [line] = [line for line in output.logs() if line["message"] == "collection finished"]
    assert (line["outcome"], line["fetched"], line["filtered"], line["inserted"]) == ("success", 3, 3, 0)
    with pg_engine.connect() as conn:
        run = conn.execute(select(runs).where(runs.c.message_id == message_id)).one()
        platform = conn.execute(select(platforms).where(platforms.c.id == platform_id)).one()
    assert (run.fetched, run.filtered, run.inserted) == (3, 3, 0)
    assert platform.last_collection_count == 0  # what the filters kept


def test_the_dispatcher_emits_due_dispatched_failures_and_cold_start(
    env: Queues, pg_engine: Engine, output: Output
) -> None:
    with pg_engine.begin() as conn:
        add_platform(conn)
        add_platform(conn)
    cold_start.reset_cold_start_flag()

    assert dispatch(scheduled_event()) == {
        "due": 2,
        "dispatched": 2,
        "failed": 0,
    }

    blobs = output.emf()
    values = metric_values(blobs)
    assert values[Metric.PLATFORMS_DUE] == [2]
    assert values[Metric.DISPATCHED] == [2]
    assert values[Metric.DISPATCH_FAILURES] == [0]
    assert values["ColdStart"] == [1]
    cold = next(b for b in blobs if "ColdStart" in b)
    assert cold["function_name"] == "DispatcherFunction"
    assert_low_cardinality(blobs)
    finished = [line for line in output.logs() if line["message"] == "dispatch finished"]
    assert finished and finished[0]["trigger"] == "schedule"
    assert finished[0]["function_name"] == "DispatcherFunction"


def test_a_scheduled_tick_counts_the_silent_sources(env: Queues, pg_engine: Engine, output: Output) -> None:
    with pg_engine.begin() as conn:
        silent = add_platform(conn, auto_collect=False)
        add_runs(conn, silent, [19, 0, 0, 0])
        healthy = add_platform(conn, auto_collect=False)
        add_runs(conn, healthy, [19, 0, 0, 19])

    dispatch({"user_id": 1})  # on demand: not a tick, no count
    assert Metric.PLATFORMS_SILENT not in metric_values(output.emf())
    dispatch(scheduled_event())

    blobs = output.emf()
    assert metric_values(blobs)[Metric.PLATFORMS_SILENT] == [1]
    assert units(blobs)[Metric.PLATFORMS_SILENT] == "Count"
    assert_low_cardinality(blobs)
    [warning] = [line for line in output.logs() if line["message"].startswith("sources gone silent")]
    assert (warning["level"], warning["silent"], warning["platform_ids"]) == ("WARNING", 1, [silent])


def test_concurrent_records_lose_no_metric_value(
    env: Queues, pg_engine: Engine, http_server: Any, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLLECTOR_CONCURRENCY", "10")
    runtime.reset()
    ids = []
    with pg_engine.begin() as conn:
        for n in range(10):
            http_server.route(f"/jobs{n}.json", body=jobs_payload((f"j{n}", f"Job {n}")), delay=0.05)
            ids.append(
                add_platform(conn, source="json_api", config=json_api(http_server.url(f"/jobs{n}.json")))
            )

    answer, _ = collect(*({"platform_id": pid} for pid in ids))

    assert answer == {"batchItemFailures": []}
    blobs = [b for b in output.emf() if "ColdStart" not in b]
    assert len(blobs) == 1  # one flush per invocation
    values = metric_values(blobs)
    for name in (
        Metric.COLLECTION_SUCCESS,
        Metric.OPPORTUNITIES_FETCHED,
        Metric.OPPORTUNITIES_INSERTED,
        Metric.OPPORTUNITIES_UPDATED,
        Metric.COLLECTION_DURATION,
    ):
        assert len(values[name]) == 10, name
    assert sum(values[Metric.OPPORTUNITIES_INSERTED]) == 10


def test_every_metric_name_is_emitted_by_some_path(
    env: Queues, pg_engine: Engine, http_server: Any, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run the dispatcher and every collector outcome: the names seen are exactly the one list."""
    monkeypatch.setenv("PAUSE_AFTER_FAILURES", "1")
    monkeypatch.setenv("EVENT_BUS_NAME", "no-such-bus")  # the collector's PutEvents fails: EventsFailed
    monkeypatch.setenv("HOST_SLOT_WAIT_SECONDS", "0")  # no slot at once: deferred
    runtime.reset()
    http_server.route("/ok.json", body=jobs_payload(("a", "Job A")), etag='"v1"')
    http_server.route("/busy.json", status=429, headers={"Retry-After": "120"})
    http_server.route("/denied.json", status=401)
    http_server.route("/down.json", status=500)
    with pg_engine.begin() as conn:
        ok = add_platform(conn, source="json_api", config=json_api(http_server.url("/ok.json")))
        fresh = add_platform(conn, source="json_api", config=json_api(http_server.url("/ok.json")))
        busy = add_platform(conn, source="json_api", config=json_api(http_server.url("/busy.json")))
        denied = add_platform(conn, source="json_api", config=json_api(http_server.url("/denied.json")))
        down = add_platform(conn, source="json_api", config=json_api(http_server.url("/down.json")))
        inactive = add_platform(conn, active=False)
        # The same server under another name, whose one slot another collector holds: deferred.
        held = http_server.url("/ok.json").replace("127.0.0.1", "localhost")
        deferred = add_platform(conn, source="json_api", config=json_api(held))
        conn.execute(update(platforms).where(platforms.c.id == fresh).values(etag='"v1"'))
        host_limits.set_override(conn, "localhost", max_concurrent=1, min_spacing_ms=0, now=utcnow())
        taken = host_limits.try_acquire(
            conn, "localhost", "another collector", now=utcnow(), lease_for=timedelta(minutes=2)
        )
        assert taken.lease_id is not None
    cold_start.reset_cold_start_flag()
    dispatch({"user_id": 1})
    cold_start.reset_cold_start_flag()

    collect(
        {"platform_id": ok},
        {"platform_id": fresh},  # the stored ETag matches: not modified
        {"platform_id": busy},
        {"platform_id": denied},  # failed, and paused (PAUSE_AFTER_FAILURES=1)
        {"platform_id": down},  # failed and retried
        {"platform_id": inactive, "trigger": "schedule"},
        {"platform_id": deferred},
        {"platform_id": 987_654},
        "not json",
    )
    # The tick publishes the event the collector could not (EventsPublished, the outbox's age), and dead-letters one EventBridge refused every time
    # (a detail that is not JSON, on its last attempt: EventsDeadLettered).
    with pg_engine.begin() as conn:
        row_id = outbox.enqueue(conn, CollectedEvent("refused", 1, 1, 1, "not json"), now=utcnow())
        conn.execute(
            update(event_outbox)
            .where(event_outbox.c.id == row_id)
            .values(claimed_until=None, attempts=outbox.MAX_ATTEMPTS - 1)
        )
    boto3.client("events").create_event_bus(Name="charlee-events")
    monkeypatch.setenv("EVENT_BUS_NAME", "charlee-events")
    runtime.reset()
    dispatch({"user_id": 424_242})
    dispatch(scheduled_event())  # a scheduled tick counts the silent sources (PlatformsSilent)
    # The notifier: an alert for what the collections stored (AlertsSent, AlertMessagesSent,
    # AlertLatency, AlertRulesDisabled), then its schedule's look for digests.
    notify_alerts(pg_engine, http_server)
    # The database unreachable from the collector: the record goes back with no run (RecordsFailed).
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:9/x")
    runtime.reset()
    collect({"platform_id": ok})

    blobs = output.emf()
    assert set(metric_values(blobs)) == METRIC_NAMES | POWERTOOLS_METRICS
    assert_low_cardinality(blobs)
    # The notifier's latency also comes per source, for the dashboard's per-source widget.
    by_source = [blob for blob in blobs if "AlertLatency" in blob and "source" in blob]
    overall = [blob for blob in blobs if "AlertLatency" in blob and "source" not in blob]
    assert by_source and {b["service"] for b in by_source} == {b["service"] for b in overall}
    assert sorted(v for b in by_source for v in b["AlertLatency"]) == sorted(
        v for b in overall for v in b["AlertLatency"]
    )


def notify_alerts(pg_engine: Engine, http_server: Any) -> None:
    """The notifier handler on an SQS batch naming the stored opportunities, with a rule on a
    loopback webhook (its secret in the mocked Secrets Manager), then on its schedule's event."""
    import notifier_handler

    from charlee_collector.store.tables import opportunities
    from tests.support.alerts import add_rule, collected_body

    http_server.route("/alert-hook", body="ok")
    boto3.client("secretsmanager").create_secret(
        Name="charlee/test/alerts/metrics", SecretString=json.dumps({"url": http_server.url("/alert-hook")})
    )
    with pg_engine.begin() as conn:
        ids = list(conn.execute(select(opportunities.c.id).where(opportunities.c.user_id == 1)).scalars())
        add_rule(conn, secret="charlee/test/alerts/metrics")
    assert ids
    messages = [{"MessageId": "n1", "ReceiptHandle": "n1", "Body": collected_body(1, ids)}]
    context = LocalLambdaContext("NotifierFunction")
    assert notifier_handler.handler(sqs_event(messages, "arn:aws:sqs:us-east-1:1:n"), context) == {
        "batchItemFailures": []
    }
    notifier_handler.handler(scheduled_event(), context)
    assert len(http_server.requests_to("/alert-hook")) == 1


# --- logs ------------------------------------------------------------------------------------


def test_every_line_of_a_record_carries_its_own_correlation_keys(
    env: Queues, pg_engine: Engine, http_server: Any, output: Output
) -> None:
    """Records run on a thread pool; no line may carry another record's keys."""
    http_server.route("/ok.json", body=jobs_payload(("a", "Job A")), delay=0.1)
    http_server.route("/down.json", status=500, delay=0.1)
    http_server.route("/denied.json", status=403, delay=0.1)
    with pg_engine.begin() as conn:
        configs = [json_api(http_server.url(p)) for p in ("/ok.json", "/down.json", "/denied.json")] * 2
        configs.append(json_api("http://127.0.0.1:9/refused.json"))  # fetch.py logs a retry
        pids = [add_platform(conn, source="json_api", config=c) for c in configs]
        pids.append(add_platform(conn, active=False))
    triggers = ["schedule", "on_demand"] * 3 + ["on_demand", "schedule"]  # the inactive one: skipped
    bodies = [{"platform_id": pid, "trigger": t} for pid, t in zip(pids, triggers, strict=True)]

    answer, message_ids = collect(*bodies, "{not json")

    expected = {mid: (b["platform_id"], b["trigger"]) for mid, b in zip(message_ids, bodies, strict=False)}
    invalid_id = message_ids[-1]
    assert len(answer["batchItemFailures"]) == 4  # the two 500s, the refused one, the invalid body
    logs = output.logs()
    seen: Counter[str] = Counter()
    for line in logs:
        assert line["function_name"] == "CollectorFunction"
        assert "function_request_id" in line and "cold_start" in line
        if line.get("message_id") == invalid_id:
            assert "platform_id" not in line and "trigger" not in line
            continue
        assert all(key in line for key in CORRELATION_KEYS), line
        assert (line["platform_id"], line["trigger"]) == expected[line["message_id"]], line
        seen[line["message_id"]] += 1
    assert set(seen) == set(expected)  # every record logged at least once
    retry_lines = [line for line in logs if "retrying once" in line["message"]]
    assert retry_lines and retry_lines[0]["platform_id"] == pids[6]  # a package logger, keys included
    assert any(line.get("message_id") == invalid_id for line in logs)


# --- secrets ---------------------------------------------------------------------------------


@pytest.fixture
def secret_platform(env: Queues, pg_engine: Engine, http_server: Any) -> int:
    """A json_api platform whose API key comes from moto Secrets Manager, in a header and the query."""
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"api_key": SECRET})
    )
    config = json_api(
        http_server.url("/api/jobs"), headers={"X-Api-Key": "{api_key}"}, params={"api_key": "{api_key}"}
    )
    with pg_engine.begin() as conn:
        return add_platform(conn, source="json_api", config=config, credentials_secret=SECRET_NAME)


def logging_processor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let Powertools' batch processor log each failed record's exception with its traceback."""
    monkeypatch.setattr(
        collector_body, "ConcurrentSqsProcessor", functools.partial(ConcurrentSqsProcessor, logger=logger)
    )


@pytest.mark.parametrize("processor_logs", [False, True], ids=["handler", "processor-logs-tracebacks"])
@pytest.mark.parametrize(
    "response",
    [
        {"status": 401, "body": "bad key " + SECRET},
        {"status": 500, "body": "upstream exploded"},
        {"status": 429, "headers": {"Retry-After": "60"}},
        {"status": 302, "headers": {"Location": f"http://localhost:PORT/elsewhere?api_key={SECRET}"}},
        {"status": 200, "body": jobs_payload(("a", "Job A"))},
        {"status": 200, "body": "{not json"},
    ],
    ids=["401", "500", "429", "redirect-elsewhere", "200", "200-garbage"],
)
def test_a_platform_secret_never_reaches_any_output(
    secret_platform: int,
    pg_engine: Engine,
    http_server: Any,
    output: Output,
    monkeypatch: pytest.MonkeyPatch,
    response: dict[str, Any],
    processor_logs: bool,
) -> None:
    if processor_logs:
        logging_processor(monkeypatch)
    location = response.get("headers", {}).get("Location")
    if location:  # another origin (localhost, not 127.0.0.1), the key in its query string
        response = {**response, "headers": {"Location": location.replace("PORT", str(http_server.port))}}
        http_server.route("/elsewhere", body=jobs_payload(("a", "Job A")))
    http_server.route("/api/jobs", **response)
    output.clear()  # the test's own CreateSecret call, logged by botocore at DEBUG, is no output

    collect({"platform_id": secret_platform}, {"platform_id": secret_platform, "trigger": "on_demand"})

    sent = http_server.requests_to("/api/jobs")[0]
    assert sent.headers["X-Api-Key"] == SECRET and SECRET in sent.query  # the secret was used
    assert SECRET not in output.everything()
    assert output.logs()  # something was logged, and checked
    with pg_engine.connect() as conn:
        stored = conn.execute(select(runs.c.error, platforms.c.last_error).join(platforms)).all()
    assert SECRET not in repr(stored)


@pytest.mark.parametrize("processor_logs", [False, True], ids=["handler", "processor-logs-tracebacks"])
def test_a_secret_with_a_trailing_newline_never_reaches_any_output(
    env: Queues,
    pg_engine: Engine,
    http_server: Any,
    output: Output,
    monkeypatch: pytest.MonkeyPatch,
    processor_logs: bool,
) -> None:
    if processor_logs:
        logging_processor(monkeypatch)
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=SECRET_NAME, SecretString=json.dumps({"api_key": SECRET + "\n"})
    )
    http_server.route("/api/jobs", body=jobs_payload(("a", "Job A")))
    config = json_api(http_server.url("/api/jobs"), headers={"Authorization": "Key {api_key}"})
    with pg_engine.begin() as conn:
        pid = add_platform(conn, source="json_api", config=config, credentials_secret=SECRET_NAME)
    output.clear()  # the test's own CreateSecret call, logged by botocore at DEBUG, is no output

    collect({"platform_id": pid})

    with pg_engine.connect() as conn:
        stored = conn.execute(select(runs.c.error)).scalars().all()
    assert SECRET not in output.everything() + repr(stored)


def _database_secret(env: Queues, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name="charlee/database",
        SecretString=json.dumps(
            {"host": "127.0.0.1", "port": 9, "username": "u", "password": DB_PASSWORD, "dbname": "x"}
        ),
    )["ARN"]
    monkeypatch.delenv("DATABASE_URL")
    monkeypatch.setenv("DB_SECRET_ARN", arn)


@pytest.mark.parametrize("source", ["DATABASE_URL", "DB_SECRET_ARN"])
@pytest.mark.parametrize("processor_logs", [False, True], ids=["handler", "processor-logs-tracebacks"])
def test_the_database_password_never_reaches_any_output(
    env: Queues, output: Output, monkeypatch: pytest.MonkeyPatch, source: str, processor_logs: bool
) -> None:
    """Nothing listens on port 9: both handlers fail, and no message, log or traceback shows it."""
    if source == "DATABASE_URL":
        monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{DB_PASSWORD}@127.0.0.1:9/x")
    else:
        _database_secret(env, monkeypatch)
    if processor_logs:
        logging_processor(monkeypatch)
    runtime.reset()
    output.clear()  # the test's own CreateSecret call, logged by botocore at DEBUG, is no output

    with pytest.raises(Exception) as raised:
        dispatch({"user_id": 1})
    answer, _ = collect({"platform_id": 1})

    assert answer["batchItemFailures"]  # the record failed and goes back to the queue
    chain = "".join(traceback.format_exception(raised.value))
    assert "127.0.0.1" in chain  # the error names where it tried to connect...
    assert DB_PASSWORD not in chain + repr(raised.value)  # ...but not the password
    assert DB_PASSWORD not in output.everything()


def test_a_record_failing_on_the_database_leaves_one_line_with_its_keys(
    env: Queues, output: Output, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:{DB_PASSWORD}@127.0.0.1:9/x")
    runtime.reset()

    answer, (message_id,) = collect({"platform_id": 1})

    assert answer["batchItemFailures"] == [{"itemIdentifier": message_id}]
    failed = [line for line in output.logs() if line.get("message_id") == message_id]
    assert failed and failed[0]["level"] == "ERROR" and "127.0.0.1" in failed[0]["exception"]
    assert DB_PASSWORD not in output.everything()
    assert metric_values(output.emf())[Metric.RECORDS_FAILED] == [1.0]  # alarmed, not silent


# --- tracing ---------------------------------------------------------------------------------

TRACED_RUN = textwrap.dedent(
    """
    import json, os, sys, uuid
    import boto3
    from moto import mock_aws

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        os.environ["COLLECT_QUEUE_URL"] = sqs.create_queue(QueueName="collect")["QueueUrl"]
        import collector_handler, dispatcher_handler
        from charlee_collector_tools.local.handlers import LocalLambdaContext
        from charlee_collector_tools.local.poller import sqs_event
        from charlee_collector.observability.tracer import tracer

        print("TRACER_DISABLED", tracer.disabled, file=sys.stderr)
        summary = dispatcher_handler.handler({"user_id": 1}, LocalLambdaContext("DispatcherFunction"))
        messages = sqs.receive_message(QueueUrl=os.environ["COLLECT_QUEUE_URL"], MaxNumberOfMessages=10)
        answer = collector_handler.handler(
            sqs_event(messages["Messages"], "arn:aws:sqs:us-east-1:123456789012:collect"),
            LocalLambdaContext("CollectorFunction"),
        )
        print("RESULT", json.dumps({"dispatch": summary, "collect": answer}), file=sys.stderr)
    """
)


def _udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.5)
    return sock


def _datagrams(sock: socket.socket) -> list[dict[str, Any]]:
    documents = []
    while True:
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return documents
        documents.append(json.loads(data.decode().split("\n", 1)[1]))


@pytest.mark.parametrize(
    "mode", ["local", "lambda-without-daemon", "lambda-with-daemon"], ids=lambda mode: mode
)
def test_handlers_run_with_tracing_enabled(
    postgres_url: URL, pg_engine: Engine, http_server: Any, mode: str
) -> None:
    """POWERTOOLS_TRACE_DISABLED=false: locally Powertools turns tracing off by itself; in Lambda
    without an X-Ray daemon the handlers still work; with one, httpx, pg8000 and botocore calls
    arrive as subsegments."""
    http_server.route("/jobs.json", body=jobs_payload(("a", "Job A")))
    with pg_engine.begin() as conn:  # two records: the collector runs them on worker threads
        for _ in range(2):
            add_platform(conn, source="json_api", config=json_api(http_server.url("/jobs.json")))
    daemon = _udp_socket()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "POWERTOOLS_"))
    }
    environment.update(
        PYTHONPATH=os.pathsep.join(
            str(ROOT / p) for p in ("shared", "functions/dispatcher", "functions/collector")
        ),
        DATABASE_URL=postgres_url.render_as_string(hide_password=False),
        COLLECTOR_ALLOW_PRIVATE_NETWORKS="true",
        TIME_MARGIN_MS="1000",
        POWERTOOLS_TRACE_DISABLED="false",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    if mode != "local":
        environment.update(LAMBDA_TASK_ROOT=str(ROOT), AWS_LAMBDA_FUNCTION_NAME="CollectorFunction")
    if mode == "lambda-with-daemon":
        port = daemon.getsockname()[1]
        environment.update(
            AWS_XRAY_DAEMON_ADDRESS=f"127.0.0.1:{port}",
            _X_AMZN_TRACE_ID=f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1",
        )

    done = subprocess.run(
        [sys.executable, "-c", TRACED_RUN], env=environment, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert f"TRACER_DISABLED {mode == 'local'}" in done.stderr
    result = json.loads(done.stderr.split("RESULT ", 1)[1].splitlines()[0])
    assert result == {
        "dispatch": {"due": 2, "dispatched": 2, "failed": 0},
        "collect": {"batchItemFailures": []},
    }
    assert "Traceback" not in done.stderr
    documents = _datagrams(daemon)
    daemon.close()
    if mode != "lambda-with-daemon":
        assert not documents
        return
    segments = [*documents, *(sub for doc in documents for sub in doc.get("subsegments", []))]
    names = Counter(segment["name"] for segment in segments)
    assert names["## handler"] == 2 and names["sqs"] >= 1, names  # both handlers; boto calls
    assert names["127.0.0.1"] == 2, names  # one httpx call per record, from the worker threads too
    # Traced, yet the platform never sees our trace id (X-Ray's httpx patch would send it).
    sent = http_server.requests_to("/jobs.json")
    assert len(sent) == 2 and not any("x-amzn-trace-id" in {k.lower() for k in r.headers} for r in sent)
    sql = [s for s in segments if s.get("sql")]
    assert sql and all(s["sql"]["database_type"] == "PostgreSQL" for s in sql)
    assert "password" not in json.dumps(documents)
