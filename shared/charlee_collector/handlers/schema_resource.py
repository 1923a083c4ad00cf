"""The stack's schema custom resource: migrate on Create and Update, and always answer CloudFormation.

``handle`` answers at the request's pre-signed ``ResponseURL`` whatever happens: SUCCESS with the
revision; FAILED with the reason when the migration raises, or when it still runs with
``ANSWER_MARGIN_MS`` of the function's time left (it runs in a worker thread so this watchdog can
answer; its statements carry a server-side timeout, so no lock outlives it). A FAILED answer fails
the deploy, which CloudFormation rolls back. Delete does nothing: the schema and its rows belong to
the database (docs/deploying.md, "Migrations on every deploy" and "Teardown").

The answer goes only to an https URL on an AWS host (``check_response_url``): the URL comes in
the event, and a PUT of ours elsewhere (the Lambda runtime API on 127.0.0.1, a host of anyone's)
is refused with ``ValueError``, the invocation's error. A loopback URL is allowed only when
``SCHEMA_RESPONSE_ALLOW_LOOPBACK`` says so (the tests' stand-in for CloudFormation; never set in
the template).
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from charlee_collector.core.hosts import is_loopback
from charlee_collector.observability.logger import logger
from charlee_collector.observability.redaction import redact
from charlee_collector.store.migrate import UnknownRevision

# Time kept for the answer itself: the PUT's attempts (ANSWER_ATTEMPTS x ANSWER_TIMEOUT_SECONDS)
# and the function's own exit, before Lambda's timeout would end the invocation unanswered.
ANSWER_MARGIN_MS = 15_000
ANSWER_TIMEOUT_SECONDS = 5.0
ANSWER_ATTEMPTS = 2
# CloudFormation's limit for the whole response body is 4096 bytes; the reason gets most of it.
MAX_REASON_CHARS = 2_000
# Where CloudFormation's pre-signed response URLs point (S3, in the commercial and China partitions).
AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn")
# One schema per stack: the id never changes, so CloudFormation never "replaces" it (a replacement
# would send a Delete for the old id, harmless here, but noise in the stack's events).
PHYSICAL_ID = "charlee-schema"

Status = Literal["SUCCESS", "FAILED"]


class Context(Protocol):
    """What this module reads from the Lambda context."""

    def get_remaining_time_in_millis(self) -> int: ...


# Given the milliseconds the migration may use, upgrades the schema; returns the revision after.
Migration = Callable[[int], "str | None"]


def is_request(event: Mapping[str, Any]) -> bool:
    """Whether ``event`` is a CloudFormation custom resource request (not a hand invocation)."""
    return "RequestType" in event and "ResponseURL" in event


@dataclass(frozen=True)
class Answer:
    """What was sent to CloudFormation."""

    status: Status
    reason: str
    revision: str | None = None


def handle(
    event: Mapping[str, Any],
    context: Context,
    migration: Migration,
    *,
    schema_code: str | None = None,
    allow_loopback: bool = False,
) -> Answer:
    """Serve one request and answer it; raises only when the answer itself could not be sent,
    or the request's ResponseURL is refused (``check_response_url``), before anything is migrated.

    ``schema_code``: the layer version this function runs (SCHEMA_CODE); a request naming another
    one comes from a rollback (see ``_decide``).
    """
    check_response_url(str(event.get("ResponseURL", "")), allow_loopback=allow_loopback)
    answer = _decide(event, context, migration, schema_code)
    log = logger.info if answer.status == "SUCCESS" else logger.error
    log("schema custom resource answered", extra={"status": answer.status, "reason": answer.reason})
    send(event, answer)
    return answer


def check_response_url(url: str, *, allow_loopback: bool = False) -> None:
    """``ValueError`` unless ``url`` is https on an AWS host (or loopback, when allowed)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host.endswith(AWS_HOST_SUFFIXES):
        return
    if allow_loopback and parts.scheme in ("http", "https") and host and is_loopback(host):
        return
    raise ValueError(f"ResponseURL is not an https URL on an AWS host: {url[:80]!r}")


def _decide(
    event: Mapping[str, Any], context: Context, migration: Migration, schema_code: str | None
) -> Answer:
    request = event.get("RequestType")
    if request == "Delete":
        return Answer("SUCCESS", "Delete leaves the schema and its rows in the database")
    if request not in ("Create", "Update"):
        return Answer("FAILED", f"unknown RequestType {request!r}")
    # Forward, CloudFormation updates this function (and its layer) before the resource, so the
    # two name the same layer. A rollback sends the old properties while this function may still
    # run the new code: migrating then would retry what just failed and leave the stack in
    # UPDATE_ROLLBACK_FAILED. Migrations only go forward, so a rollback leaves the schema be.
    wanted = event.get("ResourceProperties", {}).get("SchemaCode")
    if schema_code and wanted and wanted != schema_code:
        return Answer(
            "SUCCESS",
            f"rollback: the request names {wanted}, this function runs {schema_code}; schema left as is",
        )
    budget_ms = context.get_remaining_time_in_millis() - ANSWER_MARGIN_MS
    if budget_ms <= 0:
        return Answer("FAILED", "no time left to migrate: raise MigrateFunction's Timeout")
    return _run_with_deadline(migration, budget_ms)


def _run_with_deadline(migration: Migration, budget_ms: int) -> Answer:
    outcome: list[Answer] = []

    def work() -> None:
        try:
            revision = migration(budget_ms)
        except UnknownRevision as exc:
            # Older code than the schema's (a rollback after newer code migrated): nothing to do.
            outcome.append(Answer("SUCCESS", f"rollback: {exc}; schema left as is"))
        except BaseException as exc:  # whatever stopped the migration is the deploy's reason to fail
            outcome.append(Answer("FAILED", f"migration failed: {type(exc).__name__}: {exc}"))
        else:
            outcome.append(Answer("SUCCESS", f"schema at revision {revision}", revision))

    # A daemon: a worker blocked past the answer must not keep the process from ending.
    worker = threading.Thread(target=work, name="schema-migration", daemon=True)
    worker.start()
    worker.join(budget_ms / 1000)
    if outcome:
        return outcome[0]
    return Answer(
        "FAILED",
        f"migration still running after {budget_ms / 1000:.0f} s (a lock held by another "
        "session, or a database that does not answer); its statements time out on the server",
    )


def send(event: Mapping[str, Any], answer: Answer) -> None:
    """PUT the answer to the request's pre-signed URL; retried once, then the error is raised."""
    body = json.dumps(
        {
            "Status": answer.status,
            "Reason": redact(answer.reason)[:MAX_REASON_CHARS],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": {"Revision": answer.revision or ""},
        }
    ).encode()
    url = event["ResponseURL"]  # checked by handle (check_response_url) before anything ran
    # The URL is signed for an empty content type: any other one makes S3 refuse the PUT.
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked by check_response_url)
        url,
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    for attempt in range(1, ANSWER_ATTEMPTS + 1):
        try:
            with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_SECONDS) as response:  # noqa: S310
                response.read()
            return
        except OSError as exc:  # urllib's HTTPError and URLError are OSErrors, as are timeouts
            if attempt == ANSWER_ATTEMPTS:
                # Nothing else can answer: the function's error (and its log) is all that is left.
                raise
            logger.warning("answering CloudFormation failed; trying again", extra={"error": repr(exc)})
