"""AWS_REGION alone is a region (Lambda sets it; botocore reads only AWS_DEFAULT_REGION), and
an AWS failure names its cause (no region, no credentials), not an exception class."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from charlee_collector.app.platform_secrets import read_platform_secret
from charlee_collector.app.runtime import new_events_client, new_sqs_client
from charlee_collector.core.aws import forget_secrets
from charlee_collector.core.errors import ConfigurationError, TransientSourceError
from charlee_collector.core.settings import Settings
from charlee_collector.store.engine import resolve_url

REGION = "eu-west-3"
DB_SECRET = {"host": "db.internal", "username": "collector", "password": "s3cret-pw", "dbname": "charlee"}


@pytest.fixture
def only_aws_region(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Lambda's environment: AWS_REGION set, AWS_DEFAULT_REGION not."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_REGION", REGION)
    forget_secrets()
    yield
    forget_secrets()


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A region and no credentials anywhere boto3 looks (no instance metadata either)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ENDPOINT_URL"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    forget_secrets()
    yield
    forget_secrets()


def _create_secret(name: str, value: dict[str, str]) -> str:
    client = boto3.client("secretsmanager", region_name=REGION)
    return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])


def test_a_platform_secret_is_read_with_only_aws_region(only_aws_region: None) -> None:
    with mock_aws():
        _create_secret("charlee/platforms/7", {"api_key": "k-123"})
        assert read_platform_secret("charlee/platforms/7") == {"api_key": "k-123"}


def test_the_database_secret_is_read_with_only_aws_region(only_aws_region: None) -> None:
    with mock_aws():
        arn = _create_secret("charlee/db", DB_SECRET)
        url = resolve_url(Settings(db_secret_arn=arn))
    assert (url.host, url.username, url.database) == ("db.internal", "collector", "charlee")


def test_the_sqs_and_events_clients_take_aws_region(only_aws_region: None) -> None:
    assert new_sqs_client().meta.region_name == REGION
    assert new_events_client().meta.region_name == REGION


def test_no_region_at_all_is_said_in_words(aws_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION", raising=False)
    forget_secrets()
    try:
        with pytest.raises(TransientSourceError) as caught:
            read_platform_secret("charlee/platforms/7")
    finally:
        forget_secrets()
    assert str(caught.value) == (
        "credentials secret charlee/platforms/7 is unavailable: no AWS region is set "
        "(set AWS_REGION or AWS_DEFAULT_REGION)"
    )


def test_missing_credentials_are_said_in_words(no_credentials: None) -> None:
    with pytest.raises(TransientSourceError) as caught:
        read_platform_secret("charlee/platforms/7")
    assert str(caught.value).startswith(
        "credentials secret charlee/platforms/7 is unavailable: no AWS credentials were found ("
    )
    forget_secrets()
    with pytest.raises(ConfigurationError) as caught_db:
        resolve_url(Settings(db_secret_arn="charlee/db"))
    assert str(caught_db.value).startswith(
        "cannot read database secret charlee/db: no AWS credentials were found ("
    )
