"""Concurrent collections of Upwork platforms sharing one OAuth grant refresh it once (issue 28).

Refresh tokens rotate: a refresh that raced another would leave one collector holding a token
the other had replaced. Each collection below runs the collector handler on its own thread (as
separate Lambda invocations) against PostgreSQL, moto Secrets Manager and a loopback Upwork whose
token endpoint refuses a refresh token it has rotated away. The token endpoint answers the first
refresh only once every other collector is waiting for the database lock, so without the lock
they would all be refreshing at that moment (and all but one refused).
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine, text

from charlee_collector.core.aws import forget_secrets
from charlee_collector.core.clock import utcnow
from charlee_collector.store.named_locks import NAMED_LOCK_SPACE
from tests.faults.conftest import FaultEnv
from tests.faults.harness import body, collect, message, runs_of
from tests.support.db import wait_for
from tests.support.factories import add_platform
from tests.support.upwork_server import CLIENT_ID, CLIENT_SECRET, UpworkServer, job_node

COLLECTORS = 4


def _waiting_for_token_locks(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                    "AND classid = :space"
                ),
                {"space": NAMED_LOCK_SPACE},
            ).scalar_one()
        )


def _grant(server: UpworkServer, *, access_expires_in: timedelta, access_token: str = "access-0") -> str:
    """A fresh secret name holding the server's grant (a name of its own: no cached copy applies)."""
    forget_secrets()
    name = f"charlee/platforms/oauth/upwork-{uuid.uuid4().hex[:8]}"
    now = utcnow()
    values = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": server.url("/oauth2/token"),
        "refresh_token": server.refresh_token,
        "refresh_token_issued_at": (now - timedelta(days=1)).isoformat(),
        "access_token": access_token,
        "access_token_expires_at": (now + access_expires_in).isoformat(),
    }
    boto3.client("secretsmanager", region_name="us-east-1").create_secret(
        Name=name, SecretString=json.dumps(values)
    )
    return name


def _stored(name: str) -> dict[str, str]:
    secret = boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(SecretId=name)
    return dict(json.loads(secret["SecretString"]))


def _platforms(env: FaultEnv, server: UpworkServer, secret: str, count: int) -> list[int]:
    with env.engine.begin() as conn:
        return [
            add_platform(
                conn,
                name=f"upwork {n}",
                source="upwork",
                config={"url": server.url("/graphql"), "query": f"python {n}"},
                credentials_secret=secret,
            )
            for n in range(count)
        ]


def _at_once(calls: list[Callable[[], set[str]]]) -> list[set[str]]:
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], set[str]]) -> set[str]:
        start.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return [future.result(timeout=120) for future in [pool.submit(run, call) for call in calls]]


def _collect_each(platform_ids: list[int]) -> list[set[str]]:
    return _at_once([lambda pid=pid: collect([message(body(pid))]) for pid in platform_ids])  # type: ignore[misc]


@pytest.mark.parametrize(
    "grant",
    [
        {"access_expires_in": timedelta(hours=-1)},  # expired by its own date: refreshed first
        {"access_expires_in": timedelta(hours=20), "access_token": "access-revoked"},  # Upwork says 401
    ],
    ids=["expired", "rejected-with-401"],
)
def test_concurrent_collections_refresh_one_grant_once(
    fault_env: FaultEnv, upwork_server: UpworkServer, grant: dict[str, Any]
) -> None:
    upwork_server.jobs = [job_node(n) for n in range(1, 4)]
    secret = _grant(upwork_server, **grant)
    platform_ids = _platforms(fault_env, upwork_server, secret, COLLECTORS)
    upwork_server.before_refresh = lambda: wait_for(
        lambda: _waiting_for_token_locks(fault_env.engine) >= COLLECTORS - 1, timeout=60
    )

    failures = _collect_each(platform_ids)

    assert failures == [set()] * COLLECTORS
    assert upwork_server.refreshes == 1
    for pid in platform_ids:
        [run] = runs_of(fault_env.engine, pid)
        assert (run.outcome, run.inserted, run.error) == ("success", 3, None)
    stored = _stored(secret)
    assert (stored["refresh_token"], stored["access_token"]) == ("refresh-1", "access-1")
    issued = stored["refresh_token_issued_at"]
    assert utcnow() - timedelta(minutes=5) < datetime.fromisoformat(issued) <= utcnow()
    served = [r for r in upwork_server.graphql_requests if r["authorization"] == "Bearer access-1"]
    assert len(served) == COLLECTORS


def test_a_valid_token_is_used_without_a_refresh(fault_env: FaultEnv, upwork_server: UpworkServer) -> None:
    upwork_server.jobs = [job_node(1)]
    secret = _grant(upwork_server, access_expires_in=timedelta(hours=10))
    [pid] = _platforms(fault_env, upwork_server, secret, 1)

    assert collect([message(body(pid))]) == set()

    assert upwork_server.refreshes == 0 and upwork_server.token_requests == []
    assert runs_of(fault_env.engine, pid)[0].outcome == "success"


def test_a_refused_refresh_fails_the_run_saying_to_authorize_again(
    fault_env: FaultEnv, upwork_server: UpworkServer
) -> None:
    secret = _grant(upwork_server, access_expires_in=timedelta(hours=-1))
    upwork_server.refresh_token = "refresh-rotated-elsewhere"  # ours died (unused 14 days, revoked)
    [pid] = _platforms(fault_env, upwork_server, secret, 1)

    assert collect([message(body(pid))]) == set()  # acknowledged: retrying cannot help

    [run] = runs_of(fault_env.engine, pid)
    assert run.outcome == "failed" and run.http_status == 400
    assert "refused the grant" in run.error and "upwork authorize" in run.error
    assert "refresh-0" not in run.error and upwork_server.graphql_requests == []
    assert _stored(secret)["refresh_token"] == "refresh-0"  # nothing written over it


def test_a_second_401_after_the_refresh_is_a_failed_run(
    fault_env: FaultEnv, upwork_server: UpworkServer
) -> None:
    secret = _grant(upwork_server, access_expires_in=timedelta(hours=10), access_token="access-revoked")
    [pid] = _platforms(fault_env, upwork_server, secret, 1)
    upwork_server.mode = "unauthorized"  # the app lost the job-postings scope, say

    assert collect([message(body(pid))]) == set()

    [run] = runs_of(fault_env.engine, pid)
    assert (run.outcome, run.http_status) == ("failed", 401)
    assert upwork_server.refreshes == 1 and len(upwork_server.graphql_requests) == 2
