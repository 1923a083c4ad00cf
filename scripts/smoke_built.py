"""Smoke-test the BUILT functions the way Lambda loads them (the last step of `make validate`).

Each handler runs in a fresh interpreter (``python -S -s -P``: no site-packages) whose only
import paths are, in Lambda's order:

    .aws-sam/build/<Function>/           the function's code  (/var/task)
    .aws-sam/build/SharedLayer/python/   the layer             (/opt/python)
    .aws-sam/runtime-provided/           boto3 + botocore, as the Lambda runtime provides them

so a dependency missing from shared/requirements.in (and its lock), or a file left out of the layer, fails
here instead of in AWS. AWS is moto's server on 127.0.0.1 (AWS_ENDPOINT_URL); the database
secret lives in it and names a throwaway database on the test PostgreSQL (found or started as
tests/support/db.py does); the platform's feed is served on 127.0.0.1.

The steps: migrate (events/migrate.json) -> the same through a CloudFormation Update of the
DatabaseSchema custom resource (its answer PUT to a local stand-in for the pre-signed URL) ->
insert one platform -> dispatch
(events/scheduled.json: 1 dispatched, its message in the queue) -> collect
(events/sqs_collect_mixed.json: exactly the malformed records fail) -> on-demand collect
(events/sqs_on_demand.json: 304, not_modified). Every EMF metric the handlers print must be one
the template's dashboard or alarms read, with the same dimensions.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "shared")]

import boto3  # noqa: E402
from sqlalchemy import URL, create_engine, make_url, select, text  # noqa: E402

from charlee_collector.app.messages import parse_collect_message  # noqa: E402
from charlee_collector.core.errors import InvalidMessage  # noqa: E402
from charlee_collector.store.tables import runs  # noqa: E402
from tests.support import cfn_yaml  # noqa: E402
from tests.support.db import _answers, _free_port, _start_throwaway_server  # noqa: E402
from tests.support.factories import add_platform  # noqa: E402

BUILD = ROOT / ".aws-sam" / "build"
RUNTIME_PROVIDED = ROOT / ".aws-sam" / "runtime-provided"
EVENTS = ROOT / "events"
REGION = "us-east-1"
FEED_ETAG = '"smoke-v1"'
FEED = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>Smoke jobs</title><link>https://example.org/</link>
<description>Jobs for the smoke test</description>
<item><title>Python developer for a Lambda service</title><link>https://example.org/jobs/1</link>
<guid>smoke-1</guid><description>Build a serverless collector. Budget: $500</description>
<pubDate>Wed, 01 Jan 2025 10:00:00 GMT</pubDate></item>
<item><title>PostgreSQL tuning</title><link>https://example.org/jobs/2</link>
<guid>smoke-2</guid><description>Speed up a few queries.</description>
<pubDate>Wed, 01 Jan 2025 11:00:00 GMT</pubDate></item>
</channel></rss>"""

# Powertools warns on every invocation that emits no application metric (migrate, an empty
# batch): expected here, so that one warning, and only it, stays out of the output.
QUIET_WARNINGS = r"""
import warnings
warnings.filterwarnings("ignore", message=r"No application metrics to publish\.", category=UserWarning)
"""

# Runs inside the isolated interpreter: import the handler, call it, write its result.
CHILD = (
    QUIET_WARNINGS
    + r"""
import importlib, json, logging, sys, time, uuid
spec = json.loads(sys.argv[1])
if spec["debug"]:  # Powertools' own modules log through the standard logging tree
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)

class Context:
    def __init__(self):
        self.function_name = spec["function"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:" + spec["function"]
        self.memory_limit_in_mb = spec["memory"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/" + spec["function"]
        self.log_stream_name = "smoke"
        self._deadline = time.monotonic() + spec["timeout"]
    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))

try:  # a record's exception is otherwise only counted: print it for the failure report
    import traceback
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    _failure_handler = BatchProcessor.failure_handler
    def failure_handler(self, record, exception):
        print("record failed:", "".join(traceback.format_exception(*exception)), file=sys.stderr)
        return _failure_handler(self, record, exception)
    BatchProcessor.failure_handler = failure_handler
except ImportError:
    pass

module, _, attribute = spec["handler"].rpartition(".")
handler = getattr(importlib.import_module(module), attribute)
with open(spec["event"]) as f:
    event = json.load(f)
result = handler(event, Context())
allowed = tuple(spec["paths"]) + (sys.base_prefix,)
strays = sorted({
    m.__name__.split(".")[0] for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and not m.__file__.startswith(allowed)
})
with open(spec["result"], "w") as f:
    json.dump({"result": result, "strays": strays}, f, default=str)
"""
)


class SmokeFailure(AssertionError):
    """A step did not do what the contract says."""


def step(message: str) -> None:
    print(f"smoke: {message}", flush=True)


# --- services ------------------------------------------------------------------------------


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """moto's server on a free port of 127.0.0.1; yields its endpoint URL."""
    port = _free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed command line
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers("127.0.0.1", port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("moto server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def postgres_database() -> Iterator[URL]:
    """A new, empty database on the test PostgreSQL server; dropped afterwards."""
    server: Any = None
    if os.environ.get("TEST_DATABASE_URL"):
        server_url = make_url(os.environ["TEST_DATABASE_URL"]).set(drivername="postgresql+pg8000")
    elif _answers("127.0.0.1", 5432):
        server_url = URL.create("postgresql+pg8000", username="postgres", host="127.0.0.1", port=5432)
    else:
        server_url, server = _start_throwaway_server()
    name = f"charlee_smoke_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server_url.set(database=name)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
        if server is not None:
            server.stop()


@contextlib.contextmanager
def feed_server() -> Iterator[str]:
    """An RSS feed on 127.0.0.1 that honours If-None-Match; yields its URL."""

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("If-None-Match") == FEED_ETAG:
                self.send_response(304)
                self.send_header("ETag", FEED_ETAG)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(FEED)))
            self.send_header("ETag", FEED_ETAG)
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/feed.xml"
    finally:
        server.shutdown()
        server.server_close()


# --- invoking a built function -------------------------------------------------------------


class BuiltFunctions:
    """The functions of .aws-sam/build/template.yaml, run in isolated interpreters."""

    def __init__(self, template: dict[str, Any], base_env: dict[str, str], overrides: dict[str, str]) -> None:
        self.template = template
        self.base_env = base_env  # what Lambda itself sets, under the template's variables
        self.overrides = overrides  # what the template references, and what a local run changes
        self.last_output = ""
        self.emitted: list[tuple[str, str, frozenset[tuple[str, str]]]] = []

    def invoke(self, function: str, event_file: str) -> Any:
        props = cfn_yaml.function_properties(self.template, function)
        layers = [
            BUILD / self.template["Resources"][layer["Ref"]]["Properties"]["ContentUri"] / "python"
            for layer in props.get("Layers", [])
        ]
        paths = [BUILD / props["CodeUri"], *layers, RUNTIME_PROVIDED]
        variables = props.get("Environment", {}).get("Variables", {})
        env = dict(self.base_env)
        env.update({name: value for name, value in variables.items() if isinstance(value, str)})
        env.update({name: value for name, value in self.overrides.items() if name in variables})
        env.update(
            AWS_LAMBDA_FUNCTION_NAME=function,
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(props.get("MemorySize", 128)),
            LAMBDA_TASK_ROOT=str(paths[0]),
            PYTHONPATH=os.pathsep.join(str(p) for p in paths),
        )
        timeout = int(props.get("Timeout", 3))
        with tempfile.TemporaryDirectory(prefix="charlee-smoke-") as workdir:
            result_file = Path(workdir) / "result.json"
            spec = {
                "function": function,
                "handler": props["Handler"],
                "event": str(EVENTS / event_file),
                "result": str(result_file),
                "timeout": timeout,
                "memory": int(props.get("MemorySize", 128)),
                "paths": [str(p) for p in paths],
                "debug": bool(os.environ.get("SMOKE_VERBOSE")),
            }
            process = subprocess.run(  # noqa: S603 - our interpreter, our child code
                [sys.executable, "-S", "-s", "-P", "-c", CHILD, json.dumps(spec)],
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout + 30,
                check=False,
            )
            self._collect_metrics(process.stdout)
            self.last_output = f"{_tail(process.stdout)}\n{_tail(process.stderr)}"
            if os.environ.get("SMOKE_VERBOSE"):
                print(process.stdout, process.stderr, sep="\n")
            if process.returncode != 0 or not result_file.exists():
                raise SmokeFailure(f"{function} with {event_file} failed (exit {process.returncode})")
            outcome = json.loads(result_file.read_text())
        if outcome["strays"]:
            raise SmokeFailure(f"{function} imported modules from outside its paths: {outcome['strays']}")
        step(f"{function} <- {event_file}: {json.dumps(outcome['result'])}")
        return outcome["result"]

    def _collect_metrics(self, stdout: str) -> None:
        for line in stdout.splitlines():
            if '"_aws"' not in line:
                continue
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for dimension_set in directive["Dimensions"]:
                    dims = frozenset((name, str(blob[name])) for name in dimension_set)
                    for metric in directive["Metrics"]:
                        self.emitted.append((directive["Namespace"], metric["Name"], dims))


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


# --- the smoke test ------------------------------------------------------------------------


def _parses(body: str) -> bool:
    try:
        parse_collect_message(body)
    except InvalidMessage:
        return False
    return True


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeFailure(message)


def check_metrics(functions: BuiltFunctions) -> None:
    """Every metric the handlers printed is one the dashboard or an alarm reads, dimensions and all."""
    namespace = cfn_yaml.parameter_default(functions.template, "MetricsNamespace")
    expected = cfn_yaml.custom_metrics(functions.template)
    emitted = set()
    for ns, name, dims in functions.emitted:
        expect(ns == namespace, f"metric {name} went to namespace {ns}, not {namespace}")
        # The dashboard names a function by its logical id (``${CollectorFunction}``); here the
        # function's name is its logical id too.
        shown = frozenset((k, f"<{v}>" if k == "function_name" else v) for k, v in dims)
        emitted.add((name, shown))
    unread = sorted(f"{name} {dict(dims)}" for name, dims in emitted - expected)
    expect(not unread, f"metrics emitted that no dashboard widget or alarm reads: {unread}")
    expect(len(emitted) > 0, "the handlers printed no EMF metrics")
    step(f"{len(emitted)} emitted metric series, all on the dashboard or an alarm")


def run(endpoint: str, database: URL, feed_url: str) -> None:
    """Create the queues and the database secret in moto, then exercise the built functions."""
    template = cfn_yaml.load(cfn_yaml.BUILT_TEMPLATE)
    aws = {
        "endpoint_url": endpoint,
        "region_name": REGION,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    sqs = boto3.client("sqs", **aws)
    dlq_url = sqs.create_queue(QueueName="charlee-smoke-CollectDLQ")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName="charlee-smoke-CollectQueue",
        Attributes={
            "VisibilityTimeout": "720",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"}),
        },
    )["QueueUrl"]
    secret = {
        "engine": "postgres",
        "host": database.host,
        "port": database.port or 5432,
        "username": database.username,
        "password": database.password or "unused-with-trust-auth",
        "dbname": database.database,
    }
    secret_arn = boto3.client("secretsmanager", **aws).create_secret(
        Name="charlee/database", SecretString=json.dumps(secret)
    )["ARN"]

    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        # Not in the template: the feed is served on 127.0.0.1, which the SSRF guard refuses.
        "COLLECTOR_ALLOW_PRIVATE_NETWORKS": "true",
        # Not in the template either: CloudFormation's stand-in below answers on 127.0.0.1.
        "SCHEMA_RESPONSE_ALLOW_LOOPBACK": "true",
    }
    overrides = {
        # The template's references (!Ref DatabaseSecretArn, CollectQueue, MetricsNamespace) ...
        "DB_SECRET_ARN": secret_arn,
        "COLLECT_QUEUE_URL": queue_url,
        "POWERTOOLS_METRICS_NAMESPACE": cfn_yaml.parameter_default(template, "MetricsNamespace"),
        # ... and its DB_TLS=true, which the local test server cannot speak.
        "DB_TLS": "false",
        "LOG_LEVEL": os.environ.get("SMOKE_LOG_LEVEL", "INFO"),
    }
    functions = BuiltFunctions(template, base_env, overrides)
    try:
        exercise(functions, sqs, queue_url, database, feed_url)
    except SmokeFailure as exc:
        raise SmokeFailure(f"{exc}\n--- the last invocation's output ---\n{functions.last_output}") from None
    check_metrics(functions)


def schema_resource_update(functions: BuiltFunctions) -> dict[str, Any]:
    """Send MigrateFunction a CloudFormation Update for DatabaseSchema; returns what it PUT back."""
    answers: list[bytes] = []

    class ResponseUrl(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            answers.append(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), ResponseUrl)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    event = {
        "RequestType": "Update",
        "ResponseURL": f"http://127.0.0.1:{server.server_address[1]}/response?X-Amz-Signature=smoke",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/charlee-collector/smoke",
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "DatabaseSchema",
        "PhysicalResourceId": "charlee-schema",
        "ResourceType": "Custom::DatabaseSchema",
        "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate"},
    }
    try:
        with tempfile.TemporaryDirectory(prefix="charlee-smoke-cfn-") as workdir:
            event_file = Path(workdir) / "cloudformation_update.json"
            event_file.write_text(json.dumps(event))
            functions.invoke("MigrateFunction", str(event_file))  # an absolute path: EVENTS / it is it
    finally:
        server.shutdown()
        server.server_close()
    expect(len(answers) == 1, f"MigrateFunction should answer CloudFormation once, answered {len(answers)}")
    answer: dict[str, Any] = json.loads(answers[0])
    step(f"MigrateFunction <- DatabaseSchema Update: {answer['Status']} ({answer['Reason']})")
    return answer


def exercise(functions: BuiltFunctions, sqs: Any, queue_url: str, database: URL, feed_url: str) -> None:
    """The steps: migrate, add a platform, dispatch, collect a mixed batch, collect on demand."""
    invoke = functions.invoke

    migrated = invoke("MigrateFunction", "migrate.json")
    expect(bool(migrated.get("revision")), f"migrate returned no revision: {migrated}")
    answered = schema_resource_update(functions)
    expect(
        (answered.get("Status"), answered.get("Data")) == ("SUCCESS", {"Revision": migrated["revision"]}),
        f"DatabaseSchema's Update should answer SUCCESS at {migrated['revision']}: {answered}",
    )

    engine = create_engine(database)
    try:
        with engine.begin() as conn:
            platform_id = add_platform(conn, name="smoke feed", config={"url": feed_url})
        expect(platform_id == 1, f"the events name platform 1; the new platform got id {platform_id}")

        summary = invoke("DispatcherFunction", "scheduled.json")
        expect(
            summary.get("due") == 1 and summary.get("dispatched") == 1 and summary.get("failed") == 0,
            f"dispatcher should have dispatched the one due platform: {summary}",
        )
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        bodies = [json.loads(m["Body"]) for m in received]
        expect(
            [b.get("platform_id") for b in bodies] == [1], f"CollectQueue should hold platform 1: {bodies}"
        )

        mixed = json.loads((EVENTS / "sqs_collect_mixed.json").read_text())["Records"]
        malformed = {r["messageId"] for r in mixed if not _parses(r["body"])}
        answer = invoke("CollectorFunction", "sqs_collect_mixed.json")
        failed = {item["itemIdentifier"] for item in answer.get("batchItemFailures", [])}
        expect(failed == malformed, f"exactly the malformed records should fail: {failed} != {malformed}")

        answer = invoke("CollectorFunction", "sqs_on_demand.json")
        expect(answer == {"batchItemFailures": []}, f"the on-demand collection should succeed: {answer}")

        with engine.connect() as conn:
            history = conn.execute(
                select(runs.c.trigger, runs.c.outcome, runs.c.inserted)
                .where(runs.c.platform_id == 1)
                .order_by(runs.c.id)
            ).all()
        expect(
            [tuple(row) for row in history] == [("schedule", "success", 2), ("on_demand", "not_modified", 0)],
            f"collection_runs of platform 1: {history}",
        )
        step(f"collection_runs of platform 1: {[tuple(row) for row in history]}")
    finally:
        engine.dispose()


def main() -> int:
    if not cfn_yaml.BUILT_TEMPLATE.is_file():
        print("smoke: no .aws-sam/build/template.yaml: run `sam build` first", file=sys.stderr)
        return 2
    if not (RUNTIME_PROVIDED / "boto3").is_dir():
        print(f"smoke: {RUNTIME_PROVIDED} lacks boto3: `pip install --target {RUNTIME_PROVIDED} boto3`")
        return 2
    started = time.monotonic()
    try:
        with moto_server() as endpoint, postgres_database() as database, feed_server() as feed_url:
            run(endpoint, database, feed_url)
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    step(f"passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
