"""The schema custom resource (MigrateFunction invoked by CloudFormation) always answers.

The answer goes to a local HTTP server standing in for the pre-signed ResponseURL; the database
is a fresh one on the test PostgreSQL. Create and Update migrate (Update of a current schema
changes nothing), Delete touches nothing, and a database that refuses, a migration that raises
and a migration blocked past the function's time all answer FAILED with the reason, in time.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import URL, Engine, inspect, text

from charlee_collector.app import runtime
from charlee_collector.handlers import schema_resource
from charlee_collector.store import migrate
from charlee_collector.store.engine import create_db_engine, dispose_engines
from charlee_collector_tools.cli.common import head_revision
from charlee_collector_tools.local.handlers import LocalLambdaContext
from tests.support.db import _free_port, scratch_database, wait_for
from tests.support.http_server import LocalHTTPServer, RecordedRequest

RESPONSE_PATH = "/cloudformation-response"
STACK_ID = "arn:aws:cloudformation:us-east-1:123456789012:stack/charlee-collector/0a1b2c3d"


def migrate_handler() -> Any:
    import migrate_handler  # functions/migrate, on the test path (pyproject)

    return migrate_handler


@pytest.fixture
def database(postgres_server_url: URL, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """A fresh, empty database the function's environment names (DATABASE_URL, no TLS)."""
    with scratch_database(postgres_server_url, "charlee_cfn") as url:
        point_at(monkeypatch, url.render_as_string(hide_password=False))
        engine = create_db_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
            runtime.reset()
            dispose_engines()


def point_at(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DB_TLS", "false")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("SCHEMA_RESPONSE_ALLOW_LOOPBACK", "true")  # the local stand-in for CloudFormation
    runtime.reset()


def request(server: LocalHTTPServer, kind: str, **extra: Any) -> dict[str, Any]:
    """A CloudFormation custom resource request whose answer goes to ``server``."""
    event = {
        "RequestType": kind,
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:charlee-migrate",
        "ResponseURL": server.url(f"{RESPONSE_PATH}?X-Amz-Signature=abc"),
        "StackId": STACK_ID,
        "RequestId": str(uuid.uuid4()),
        "LogicalResourceId": "DatabaseSchema",
        "ResourceType": "Custom::DatabaseSchema",
        "ResourceProperties": {"ServiceToken": "...", "SchemaCode": "layer:1"},
        **extra,
    }
    if kind != "Create":
        event.setdefault("PhysicalResourceId", schema_resource.PHYSICAL_ID)
    return event


def invoke(event: dict[str, Any], *, timeout_seconds: int = 300) -> tuple[dict[str, Any], LocalLambdaContext]:
    context = LocalLambdaContext(function_name="charlee-migrate", timeout_seconds=timeout_seconds)
    return migrate_handler().handler(event, context), context


def answer(server: LocalHTTPServer, event: dict[str, Any]) -> dict[str, Any]:
    """The one answer CloudFormation received for ``event``."""
    (put,) = server.requests_to(RESPONSE_PATH)
    assert_signed_put(put)
    body = json.loads(put.body)
    assert (body["StackId"], body["RequestId"], body["LogicalResourceId"]) == (
        event["StackId"],
        event["RequestId"],
        event["LogicalResourceId"],
    )
    assert body["PhysicalResourceId"] == schema_resource.PHYSICAL_ID
    return body


def assert_signed_put(put: RecordedRequest) -> None:
    assert put.method == "PUT"
    assert put.query == "X-Amz-Signature=abc"  # the pre-signed URL's query, kept as given
    # The URL is signed for an empty content type; anything else would be refused by S3.
    assert put.headers.get("Content-Type") == ""
    assert int(put.headers["Content-Length"]) == len(put.body) <= 4096


@pytest.fixture
def cloudformation(http_server: LocalHTTPServer) -> LocalHTTPServer:
    http_server.route(RESPONSE_PATH, body=b"")
    return http_server


def test_create_migrates_an_empty_database_and_answers_success(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    event = request(cloudformation, "Create")

    result, _ = invoke(event)

    head = head_revision()
    body = answer(cloudformation, event)
    assert body["Status"] == "SUCCESS"
    assert body["Data"] == {"Revision": head}
    assert head in body["Reason"]
    assert result == {"status": "SUCCESS", "revision": head}
    assert migrate.current_revision(database) == head
    assert "freelance_platforms" in inspect(database).get_table_names()


def test_update_upgrades_an_older_schema(database: Engine, cloudformation: LocalHTTPServer) -> None:
    migrate.upgrade(database, "0002")
    event = request(cloudformation, "Update", OldResourceProperties={"SchemaCode": "layer:0"})

    invoke(event)

    assert answer(cloudformation, event)["Status"] == "SUCCESS"
    assert migrate.current_revision(database) == head_revision() != "0002"


def test_update_of_a_current_schema_changes_nothing(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    migrate.upgrade(database)
    with database.begin() as conn:
        conn.execute(text("CREATE TABLE marker (id int)"))  # survives only if nothing is rebuilt
        conn.execute(text("INSERT INTO marker VALUES (1)"))
    event = request(cloudformation, "Update")

    invoke(event)

    body = answer(cloudformation, event)
    assert (body["Status"], body["Data"]["Revision"]) == ("SUCCESS", head_revision())
    with database.connect() as conn:
        assert conn.execute(text("SELECT id FROM marker")).scalar_one() == 1


def test_delete_answers_success_without_touching_the_database(
    database: Engine, cloudformation: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate.upgrade(database)
    # Nothing listens there: a Delete that tried to reach the database would fail.
    point_at(monkeypatch, f"postgresql://postgres@127.0.0.1:{_free_port()}/none")
    event = request(cloudformation, "Delete")

    invoke(event)

    assert answer(cloudformation, event)["Status"] == "SUCCESS"
    assert migrate.current_revision(database) == head_revision()


def test_a_database_that_refuses_fails_the_deploy_with_the_reason(
    cloudformation: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = _free_port()
    point_at(monkeypatch, f"postgresql://postgres:hunter2-secret@127.0.0.1:{port}/charlee")
    event = request(cloudformation, "Create")
    try:
        result, _ = invoke(event)
    finally:
        runtime.reset()
        dispose_engines()

    body = answer(cloudformation, event)
    assert body["Status"] == "FAILED" and result["status"] == "FAILED"
    assert body["Reason"].startswith("migration failed: ")
    assert f"Can't create a connection to host 127.0.0.1 and port {port}" in body["Reason"]
    assert "hunter2-secret" not in put_bodies(cloudformation)


def put_bodies(server: LocalHTTPServer) -> str:
    return "".join(put.body.decode() for put in server.requests_to(RESPONSE_PATH))


def test_a_migration_that_raises_fails_the_deploy_with_its_error(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    with database.begin() as conn:  # the first revision's CREATE TABLE now meets an existing table
        conn.execute(text("CREATE TABLE freelance_platforms (id int)"))
    event = request(cloudformation, "Create")

    invoke(event)

    body = answer(cloudformation, event)
    assert body["Status"] == "FAILED"
    assert "freelance_platforms" in body["Reason"] and "already exists" in body["Reason"]
    assert migrate.current_revision(database) is None  # the failed revision left nothing behind


def test_a_migration_blocked_past_the_deadline_still_answers_failed_in_time(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    migrate.upgrade(database, "0002")
    budget_seconds = 2  # the function's time beyond the answer's margin
    timeout = schema_resource.ANSWER_MARGIN_MS // 1000 + budget_seconds
    event = request(cloudformation, "Update")
    holder = database.connect()
    # Another session holds alembic_version: the migration's first read blocks on it until the
    # lock goes, which it does only at the end of this test.
    holder.execute(text("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE"))
    try:
        result, context = invoke(event, timeout_seconds=timeout)
        answered_with_ms_left = context.get_remaining_time_in_millis()

        body = answer(cloudformation, event)
        assert body["Status"] == "FAILED" and result["status"] == "FAILED"
        assert "still running" in body["Reason"]
        assert answered_with_ms_left > 0  # answered before the function's own timeout
        # The server ends the blocked statement soon after (its statement_timeout is the
        # budget): no session is left waiting for, or holding, a lock of the migration.
        wait_for(lambda: waiting_sessions(database) == 0, timeout=30)
    finally:
        holder.rollback()
        holder.close()
    wait_for(lambda: not migration_threads(), timeout=30)
    assert migrate.current_revision(database) == "0002"  # nothing half-applied


def waiting_sessions(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
        )


def migration_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "schema-migration"]


def test_no_time_left_answers_failed_without_starting(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    event = request(cloudformation, "Create")

    invoke(event, timeout_seconds=schema_resource.ANSWER_MARGIN_MS // 1000)

    body = answer(cloudformation, event)
    assert body["Status"] == "FAILED" and "Timeout" in body["Reason"]
    assert migrate.current_revision(database) is None


def test_an_unknown_request_type_fails(database: Engine, cloudformation: LocalHTTPServer) -> None:
    event = request(cloudformation, "Rename")

    invoke(event)

    assert answer(cloudformation, event)["Status"] == "FAILED"
    assert migrate.current_revision(database) is None


def test_an_answer_that_cannot_be_delivered_fails_the_invocation(
    database: Engine, http_server: LocalHTTPServer
) -> None:
    http_server.route(RESPONSE_PATH, status=403, body=b"SignatureDoesNotMatch")
    event = request(http_server, "Create")

    with pytest.raises(OSError, match="403"):
        invoke(event)

    assert len(http_server.requests_to(RESPONSE_PATH)) == schema_resource.ANSWER_ATTEMPTS


def test_a_hand_invocation_migrates_and_returns_the_revision(database: Engine) -> None:
    result, _ = invoke({})

    assert result == {"revision": head_revision()}


def test_a_rollback_with_the_new_code_still_deployed_leaves_the_schema(
    database: Engine, cloudformation: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The failed update's code still runs (layer:2) and CloudFormation sends back the old
    # properties (layer:1): migrating would retry what failed and wedge the rollback.
    migrate.upgrade(database, "0002")
    monkeypatch.setenv("SCHEMA_CODE", "layer:2")
    runtime.reset()
    event = request(
        cloudformation, "Update", ResourceProperties={"ServiceToken": "...", "SchemaCode": "layer:1"}
    )

    invoke(event)

    body = answer(cloudformation, event)
    assert body["Status"] == "SUCCESS" and body["Reason"].startswith("rollback: ")
    assert migrate.current_revision(database) == "0002"


def test_the_same_layer_on_both_sides_migrates(
    database: Engine, cloudformation: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCHEMA_CODE", "layer:1")
    runtime.reset()
    event = request(
        cloudformation, "Update", ResourceProperties={"ServiceToken": "...", "SchemaCode": "layer:1"}
    )

    invoke(event)

    assert answer(cloudformation, event)["Status"] == "SUCCESS"
    assert migrate.current_revision(database) == head_revision()


def test_a_rollback_to_older_code_than_the_schema_leaves_the_schema(
    database: Engine, cloudformation: LocalHTTPServer
) -> None:
    migrate.upgrade(database)
    with database.begin() as conn:  # what a newer release's migration would have left
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    event = request(cloudformation, "Update")

    invoke(event)

    body = answer(cloudformation, event)
    assert body["Status"] == "SUCCESS" and "revision 9999" in body["Reason"]
    with database.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == "9999"


def test_a_hand_invocation_on_a_newer_schema_is_an_error(database: Engine) -> None:
    migrate.upgrade(database)
    with database.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(migrate.UnknownRevision, match="9999"):
        invoke({})


@pytest.mark.parametrize(
    "url",
    [
        "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x",  # not https
        "https://collector.example.com/cloudformation-response",  # not an AWS host
        "https://s3.amazonaws.com.example.com/x",
        "file:///etc/passwd",
    ],
)
def test_an_answer_goes_only_to_https_on_an_aws_host(url: str) -> None:
    with pytest.raises(ValueError, match="ResponseURL is not an https URL on an AWS host"):
        schema_resource.check_response_url(url)


def test_a_signed_s3_response_url_is_accepted() -> None:
    for url in (
        "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3A...?X-Amz-Signature=abc",
        "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x",
    ):
        schema_resource.check_response_url(url)


def test_a_loopback_response_url_is_refused_unless_allowed_and_nothing_is_migrated(
    database: Engine, cloudformation: LocalHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCHEMA_RESPONSE_ALLOW_LOOPBACK")  # as deployed: the runtime API is on 127.0.0.1
    runtime.reset()
    event = request(cloudformation, "Create")

    with pytest.raises(ValueError, match="ResponseURL is not an https URL on an AWS host"):
        invoke(event)

    assert cloudformation.requests_to(RESPONSE_PATH) == []
    assert migrate.current_revision(database) is None
