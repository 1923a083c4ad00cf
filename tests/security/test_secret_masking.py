"""A platform's credentials secret stays secret whatever a hostile platform does with it.

The platform's server redirects to a URL made of the secret: as a host name (which httpx
lower-cases), upper-cased, percent-encoded in either hex case, inside a longer label, as an
IDNA (punycode) label, in a path. Each runs through the collector handler with the secret in
moto Secrets Manager. Then the secret must appear in no log line (the Powertools JSON lines,
caplog, stdout and stderr) and in no stored error (``collection_runs.error``,
``freelance_platforms.last_error``), in any case or encoding: what is searched is lower-cased,
percent-decoded, JSON-unescaped and IDNA-decoded first.
"""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import boto3
import collector_handler
import idna
import pytest
from sqlalchemy import Engine, select

from charlee_collector.core.aws import forget_secrets
from charlee_collector.observability.logger import logger
from charlee_collector.store.tables import platforms, runs
from charlee_collector_tools.local.handlers import LocalLambdaContext
from charlee_collector_tools.local.poller import sqs_event
from tests.support.factories import add_platform
from tests.support.http_server import LocalHTTPServer

TOKEN = "TopSecret-Token-9QzX"
UNICODE_TOKEN = "Sëcret-Ünïcode-Tøken"
ARN = "arn:aws:sqs:us-east-1:123456789012:collect"


def every_byte_encoded(value: str) -> str:
    return "".join(f"%{byte:02X}" for byte in value.encode())


def punycode(label: str) -> str:
    return idna.encode(label.lower()).decode()


TARGETS = {
    "host": f"http://{TOKEN}.invalid/",
    "host-upper": f"http://{TOKEN.upper()}.invalid/feed",
    "host-percent-upper-hex": f"http://{every_byte_encoded(TOKEN)}.invalid/",
    "host-percent-lower-hex": f"http://{every_byte_encoded(TOKEN).lower()}.invalid/",
    "host-partly-encoded": f"http://{TOKEN[:5]}{every_byte_encoded(TOKEN[5:9])}{TOKEN[9:]}.invalid/",
    "inside-a-label": f"http://pre-{TOKEN}-post.example.invalid/",
    "subdomain": f"http://{TOKEN}.api.invalid:8080/x",
    "userinfo-and-host": f"http://{TOKEN}:{TOKEN}@{TOKEN}.invalid/",
    "idna-label": f"http://{punycode(UNICODE_TOKEN)}.invalid/",
    "idna-inside-a-label": f"http://{punycode('pre-' + UNICODE_TOKEN + '-post')}.invalid/",
    "path": "/files/" + TOKEN + "/feed.json",
    "path-percent-lower-hex": "/files/" + every_byte_encoded(TOKEN).lower() + "/feed.json",
    "path-unicode": "/files/" + quote(UNICODE_TOKEN) + "/feed.json",
}


def revealed(text: str) -> list[str]:
    """The secrets ``text`` shows in any case or encoding."""
    normal = text
    for _ in range(2):  # twice: a value encoded twice
        normal = unquote(normal)
    normal = re.sub(
        r"(?i)xn--[a-z0-9-]+", lambda m: m[0][4:].encode().decode("punycode", errors="replace"), normal
    )
    normal = normal.casefold()
    return [secret for secret in (TOKEN, UNICODE_TOKEN) if secret.casefold() in normal]


def unescaped(lines: str) -> str:
    """JSON log lines with their string escapes (\\u00eb...) decoded."""
    out = []
    for line in lines.splitlines():
        try:
            out.append(json.dumps(json.loads(line), ensure_ascii=False))
        except ValueError:
            out.append(line)
    return "\n".join(out)


@pytest.fixture
def json_lines(caplog: pytest.LogCaptureFixture) -> Iterator[io.StringIO]:
    """What the Powertools handler writes (its stream swapped for a buffer)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    buffer, previous = io.StringIO(), handler.stream
    handler.stream = buffer
    caplog.set_level(logging.DEBUG)
    try:
        yield buffer
    finally:
        handler.stream = previous


@pytest.fixture
def secret_name(pipeline_env: None) -> Iterator[str]:
    name = f"charlee/platforms/{uuid.uuid4()}"
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=name, SecretString=json.dumps({"api_key": TOKEN, "other": UNICODE_TOKEN})
    )
    forget_secrets()
    yield name
    forget_secrets()


@pytest.mark.parametrize("target", list(TARGETS.values()), ids=list(TARGETS))
def test_a_secret_in_a_redirect_target_reaches_no_log_and_no_stored_error(
    target: str,
    secret_name: str,
    pg_engine: Engine,
    http_server: LocalHTTPServer,
    json_lines: io.StringIO,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    http_server.redirect("/start", target if target.startswith("http") else http_server.url(target))
    config = {"url": http_server.url("/start"), "items": "jobs", "headers": {"X-Api-Key": "{api_key}"}}
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config, credentials_secret=secret_name)
    record = {
        "MessageId": str(uuid.uuid4()),
        "ReceiptHandle": "rh",
        "Body": json.dumps({"platform_id": platform_id}),
    }

    collector_handler.handler(sqs_event([record], ARN), LocalLambdaContext("CollectorFunction"))

    assert http_server.requests_to("/start")[0].headers["X-Api-Key"] == TOKEN  # the secret was in use
    with pg_engine.connect() as conn:
        [(error, last_error)] = conn.execute(
            select(runs.c.error, platforms.c.last_error).join(platforms).where(platforms.c.id == platform_id)
        ).all()
    assert error and last_error, "the failure was recorded"
    assert revealed(error) == [] and revealed(last_error) == [], (error, last_error)
    captured = capsys.readouterr()
    logs = unescaped(json_lines.getvalue())
    assert "transient" in logs or "permanent" in logs  # the failure was logged, and checked
    everything = "\n".join([logs, caplog.text, captured.out, captured.err])
    assert revealed(everything) == [], [line for line in everything.splitlines() if revealed(line)]


def test_what_is_masked_stays_readable(
    secret_name: str, pg_engine: Engine, http_server: LocalHTTPServer, json_lines: io.StringIO
) -> None:
    """Masking takes the secret, not the message: the host's other labels and the advice stay."""
    http_server.redirect("/start", f"http://{TOKEN}.api.invalid/")
    config = {"url": http_server.url("/start"), "items": "jobs", "headers": {"X-Api-Key": "{api_key}"}}
    with pg_engine.begin() as conn:
        platform_id = add_platform(conn, source="json_api", config=config, credentials_secret=secret_name)
    record: dict[str, Any] = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": json.dumps({"platform_id": platform_id}),
    }

    collector_handler.handler(sqs_event([record], ARN), LocalLambdaContext("CollectorFunction"))

    with pg_engine.connect() as conn:
        error = conn.execute(select(runs.c.error).where(runs.c.platform_id == platform_id)).scalar_one()
    assert "could not resolve host '***.api.invalid'" in error, error
