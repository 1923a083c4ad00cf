"""The database the functions connect to: the secret's, or the host and name the stack sets.

The secret RDS manages for a master password (``ManageMasterUserPassword``, what the stack's own
Aurora cluster has) holds only ``username`` and ``password``: the template names the host (the
cluster's endpoint, or the RDS Proxy's) and the database in DB_HOST and DB_NAME.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.settings import Settings
from charlee_collector.store.engine import resolve_url


@pytest.fixture
def secret_arn(aws_env: None) -> Iterator[str]:
    with mock_aws():
        yield boto3.client("secretsmanager").create_secret(
            Name="rds!cluster-1234", SecretString=json.dumps({"username": "charlee", "password": "pw-9f8e"})
        )["ARN"]


def test_an_rds_managed_secret_takes_its_host_and_database_from_the_stack(secret_arn: str) -> None:
    env = {"DB_SECRET_ARN": secret_arn, "DB_HOST": "proxy.example.internal", "DB_NAME": "charlee"}

    url = resolve_url(Settings.from_env(env))

    assert (url.host, url.port, url.database, url.username) == (
        "proxy.example.internal",
        5432,
        "charlee",
        "charlee",
    )
    assert url.password == "pw-9f8e"


def test_db_host_overrides_the_host_of_a_full_secret(aws_env: None) -> None:
    with mock_aws():
        arn = boto3.client("secretsmanager").create_secret(
            Name="charlee/database",
            SecretString=json.dumps(
                {"host": "db.example.internal", "port": 5433, "username": "u", "password": "p", "dbname": "x"}
            ),
        )["ARN"]
        through_proxy = resolve_url(Settings.from_env({"DB_SECRET_ARN": arn, "DB_HOST": "proxy.internal"}))
        direct = resolve_url(Settings.from_env({"DB_SECRET_ARN": arn, "DB_HOST": ""}))

    assert (through_proxy.host, through_proxy.database) == ("proxy.internal", "x")
    assert (direct.host, direct.port, direct.database) == ("db.example.internal", 5433, "x")


def test_a_secret_without_a_host_and_no_db_host_is_a_configuration_error(secret_arn: str) -> None:
    with pytest.raises(ConfigurationError, match="database secret lacks host"):
        resolve_url(Settings.from_env({"DB_SECRET_ARN": secret_arn}))


def test_the_connect_timeout_is_a_setting() -> None:
    assert Settings.from_env({}).db_connect_timeout == 10.0
    assert Settings.from_env({"DB_CONNECT_TIMEOUT": "30"}).db_connect_timeout == 30.0
    with pytest.raises(ConfigurationError, match="DB_CONNECT_TIMEOUT"):
        Settings.from_env({"DB_CONNECT_TIMEOUT": "0"})
