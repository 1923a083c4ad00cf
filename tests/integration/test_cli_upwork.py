"""``upwork authorize``, ``upwork purge`` and the grants ``status`` reports, as the real command
against a loopback Upwork, a moto server's Secrets Manager and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from sqlalchemy import Engine, text

from charlee_collector.core.clock import utcnow
from tests.support.cli import Cli, postgres_cli
from tests.support.factories import add_platform, opportunity
from tests.support.moto_server import MotoServer
from tests.support.upwork_server import CLIENT_ID, CLIENT_SECRET, CODE, UpworkServer

REDIRECT = "https://localhost/charlee-callback"


@pytest.fixture
def cli(request: pytest.FixtureRequest, tmp_path: Path, moto_server: MotoServer) -> Cli:
    command = postgres_cli(request, tmp_path)
    command.env.update(moto_server.env)
    return command


def secrets_client(moto_server: MotoServer) -> Any:
    return boto3.client(
        "secretsmanager",
        endpoint_url=moto_server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def authorize(cli: Cli, server: UpworkServer, secret: str, answer: Any) -> subprocess.CompletedProcess[str]:
    """Run ``upwork authorize``: read the URL it prints, then paste ``answer(url)`` as the operator would."""
    args = [
        "upwork", "authorize", "--client-id", CLIENT_ID, "--secret", secret, "--redirect-uri", REDIRECT,
        "--authorize-url", server.url("/authorize"), "--token-url", server.url("/oauth2/token"),
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "charlee_collector", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**cli.base_env(), "UPWORK_CLIENT_SECRET": CLIENT_SECRET},
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    stdout, stderr = process.communicate(answer(url) + "\n", timeout=120)
    return subprocess.CompletedProcess(args, process.returncode, url + "\n" + stdout, stderr)


def redirected(url: str, **overrides: str) -> str:
    state = parse_qs(urlsplit(url).query)["state"][0]
    return (
        f"{REDIRECT}?{'&'.join(f'{k}={v}' for k, v in {'code': CODE, 'state': state, **overrides}.items())}"
    )


def test_authorize_prints_the_url_takes_the_code_and_stores_the_grant(
    cli: Cli, upwork_server: UpworkServer, moto_server: MotoServer
) -> None:
    secret = f"charlee/platforms/oauth/upwork-{uuid.uuid4().hex[:8]}"

    done = authorize(cli, upwork_server, secret, redirected)

    assert done.returncode == 0, done.stderr
    url = urlsplit(done.stdout.strip())
    query = {key: values[0] for key, values in parse_qs(url.query).items()}
    assert (url.path, query["response_type"], query["client_id"], query["redirect_uri"]) == (
        "/authorize", "code", CLIENT_ID, REDIRECT,
    )  # fmt: skip
    assert f"stored the Upwork grant in secret {secret}" in done.stderr and "Traceback" not in done.stderr
    assert CLIENT_SECRET not in done.stdout + done.stderr and "access-1" not in done.stdout + done.stderr
    stored = json.loads(secrets_client(moto_server).get_secret_value(SecretId=secret)["SecretString"])
    assert {
        key: stored[key]
        for key in ("client_id", "client_secret", "token_url", "refresh_token", "access_token")
    } == {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "token_url": upwork_server.url("/oauth2/token"),
        "refresh_token": "refresh-1",
        "access_token": "access-1",
    }
    assert upwork_server.code_grants == 1
    assert upwork_server.token_requests[0]["redirect_uri"] == REDIRECT

    # Authorising again gives the same secret a new version.
    assert authorize(cli, upwork_server, secret, lambda url: CODE).returncode == 0
    stored = json.loads(secrets_client(moto_server).get_secret_value(SecretId=secret)["SecretString"])
    assert stored["refresh_token"] == "refresh-2"


@pytest.mark.parametrize(
    ("answer", "code", "says"),
    [
        (lambda url: redirected(url, state="forged"), 2, "its state differs"),
        (
            lambda url: redirected(url, code="wrong-code"),
            1,
            "the token endpoint refused the grant (HTTP 400)",
        ),
        (lambda url: f"{REDIRECT}?error=access_denied", 1, "Upwork refused the authorisation: access_denied"),
    ],
    ids=["forged-state", "bad-code", "denied"],
)
def test_a_failed_authorization_stores_nothing(
    cli: Cli, upwork_server: UpworkServer, moto_server: MotoServer, answer: Any, code: int, says: str
) -> None:
    secret = f"charlee/platforms/oauth/upwork-{uuid.uuid4().hex[:8]}"

    done = authorize(cli, upwork_server, secret, answer)

    assert done.returncode == code
    assert done.stderr.splitlines()[-1].startswith("error:") and says in done.stderr.splitlines()[-1]
    names = [s["Name"] for s in secrets_client(moto_server).list_secrets()["SecretList"]]
    assert secret not in names


def test_status_warns_when_a_refresh_token_is_close_to_dying_unused(
    cli: Cli, pg_engine: Engine, moto_server: MotoServer
) -> None:
    now = utcnow()
    secrets = {"soon": now - timedelta(days=12), "fine": now - timedelta(days=1)}
    names = {}
    for label, issued in secrets.items():
        names[label] = f"charlee/platforms/oauth/{label}-{uuid.uuid4().hex[:8]}"
        grant = {
            "client_id": "c", "client_secret": "s", "token_url": "https://www.upwork.com/api/v3/oauth2/token",
            "refresh_token": f"refresh-{label}", "refresh_token_issued_at": issued.isoformat(),
        }  # fmt: skip
        secrets_client(moto_server).create_secret(Name=names[label], SecretString=json.dumps(grant))
    with pg_engine.begin() as conn:
        soon = add_platform(conn, source="upwork", config={}, credentials_secret=names["soon"])
        add_platform(conn, source="upwork", config={}, credentials_secret=names["fine"])

    shown = cli("status")

    [warning] = [line for line in shown.stderr.splitlines() if line.startswith("warning:")]
    assert f"the refresh token in secret {names['soon']} dies unused on" in warning
    assert "(2.0 days)" in warning and f"charlee-collector collect {soon}" in warning
    assert "OAuth grants" in shown.stdout and names["fine"] in shown.stdout
    grants = {g["secret"]: g for g in cli.json("status")["oauth_grants"]}
    assert grants[names["fine"]]["warning"] is None and grants[names["soon"]]["platform_ids"] == [soon]


def test_upwork_purge_empties_what_is_older_than_a_day(cli: Cli, pg_engine: Engine) -> None:
    from charlee_collector.store.opportunities import upsert_opportunities

    with pg_engine.begin() as conn:
        pid = add_platform(conn, source="upwork", config={})
        upsert_opportunities(
            conn,
            platform_id=pid,
            user_id=1,
            items=[opportunity(1), opportunity(2)],
            now=utcnow() - timedelta(days=2),
        )

    dry = cli("upwork", "purge", "--dry-run")
    assert (dry.stdout, dry.stderr) == ("", "2 opportunities would be purged; nothing was changed\n")
    done = cli("upwork", "purge")
    assert done.stderr == "purged the description and raw body of 2 opportunities\n"
    with pg_engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM freelance_opportunities WHERE description IS NOT NULL")
        )
        assert left.scalar_one() == 0
