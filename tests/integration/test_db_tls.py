"""TLS to PostgreSQL verifies the server's certificate, and never falls back to not verifying.

The server is a private PostgreSQL of the test's own, reached through a TLS front that speaks
PostgreSQL's own TLS negotiation with a certificate for ``localhost`` issued by a CA of the
test's own (``tests/support/postgres_tls_front.py``, ``tests/support/certificates.py``): the
embedded PostgreSQL a machine without one of its own runs is built without TLS, so the front
serves TLS the same way on every machine. The RDS CA
bundle cannot be served from here (no RDS host resolves to this machine): which bundle an RDS
host gets is checked on the context ``store.tls`` builds for it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import URL, text

from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.settings import Settings
from charlee_collector.store import tls
from charlee_collector.store.engine import create_db_engine, dispose_engines, explain_error, get_engine
from tests.support.certificates import TestAuthority
from tests.support.cli import Cli
from tests.support.db import start_postgres_server
from tests.support.postgres_tls_front import PostgresTlsFront

RDS_CLUSTER = "charlee.cluster-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"


@pytest.fixture(scope="module")
def authority() -> TestAuthority:
    return TestAuthority()


@dataclass(frozen=True)
class TlsServer:
    url: URL  # the front's address, under the name its certificate holds
    front: PostgresTlsFront

    def encrypted(self, url: URL | None = None, **options: Any) -> bool:
        """Whether a connection made with ``options`` negotiated TLS with the front."""
        engine = create_db_engine(url or self.url, connect_timeout=5, **options)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        finally:
            engine.dispose()
        return self.front.sessions[-1] == "tls"


@pytest.fixture(scope="module")
def tls_server(authority: TestAuthority) -> Iterator[TlsServer]:
    """PostgreSQL speaking TLS with a certificate for ``localhost`` (not for 127.0.0.1)."""
    issued = authority.issue(["localhost"])
    url, server = start_postgres_server("", {})
    assert url.port is not None
    front = PostgresTlsFront(("127.0.0.1", url.port), issued.certificate, issued.key)
    try:
        yield TlsServer(url.set(host="localhost", port=front.port, database="postgres"), front)
    finally:
        front.close()
        server.stop()  # type: ignore[attr-defined]


@pytest.fixture
def ca_file(authority: TestAuthority, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    path.write_bytes(authority.pem)
    return str(path)


def test_a_certificate_from_the_given_ca_bundle_verifies(tls_server: TlsServer, ca_file: str) -> None:
    assert tls_server.encrypted(tls=True, ca_bundle=ca_file)


def test_a_certificate_the_trust_store_does_not_hold_is_refused_not_used_unverified(
    tls_server: TlsServer,
) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as error:
        tls_server.encrypted(tls=True)
    assert "certificate verify failed" in str(error.value)


def test_a_certificate_from_another_ca_is_refused(tls_server: TlsServer, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(TestAuthority("another CA").pem)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        tls_server.encrypted(tls=True, ca_bundle=str(other))


def test_the_host_name_is_checked(tls_server: TlsServer, ca_file: str) -> None:
    # The certificate names localhost; 127.0.0.1 is the same server under a name it does not hold.
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        tls_server.encrypted(tls_server.url.set(host="127.0.0.1"), tls=True, ca_bundle=ca_file)


def test_a_ca_bundle_that_cannot_be_read_is_a_configuration_error(
    tls_server: TlsServer, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=r"DB_CA_BUNDLE \(.*missing.pem\) cannot be read"):
        tls_server.encrypted(tls=True, ca_bundle=str(tmp_path / "missing.pem"))
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"not a certificate\n")
    with pytest.raises(ConfigurationError, match="holds no PEM certificate"):
        tls_server.encrypted(tls=True, ca_bundle=str(empty))


def test_this_machine_goes_without_tls_unless_asked(tls_server: TlsServer) -> None:
    assert not tls_server.encrypted()


def test_another_machine_gets_tls_unless_asked_otherwise(tmp_path: Path) -> None:
    # The context is built with the engine: an unreadable bundle shows TLS was chosen, before any
    # connection (the host does not exist).
    url = "postgresql://charlee@db.example.invalid/charlee"
    with pytest.raises(ConfigurationError, match="DB_CA_BUNDLE"):
        create_db_engine(url, ca_bundle=str(tmp_path / "missing.pem"))
    said: list[str] = []
    create_db_engine(url, tls=False, ca_bundle=str(tmp_path / "missing.pem"), warn=said.append).dispose()
    assert said == [
        "DB_TLS=false: the connection to db.example.invalid is not encrypted; passwords and rows "
        "cross the network in clear (leave DB_TLS unset for TLS)"
    ]
    said.clear()
    create_db_engine("postgresql://charlee@127.0.0.1/charlee", tls=False, warn=said.append).dispose()
    assert said == []  # this machine: nothing crosses a network


def _subjects(context: ssl.SSLContext) -> set[str]:
    return {
        dict(item[0] for item in cert["subject"]).get("commonName", "")  # type: ignore[misc]
        for cert in context.get_ca_certs()
    }


def test_an_rds_host_trusts_the_shipped_rds_bundle() -> None:
    rds = _subjects(tls.context_for(RDS_CLUSTER))
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in rds
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in _subjects(tls.context_for(RDS_CLUSTER.upper() + "."))
    proxy = "charlee-proxy.proxy-c1a2b3c4d5e6.us-east-1.rds.amazonaws.com"
    assert "Amazon RDS us-east-1 Root CA RSA2048 G1" in _subjects(tls.context_for(proxy))
    assert not any(name.startswith("Amazon RDS") for name in _subjects(tls.context_for("db.example.com")))
    assert not any(
        name.startswith("Amazon RDS") for name in _subjects(tls.context_for("rds.amazonaws.com.example.com"))
    )


def test_db_ca_bundle_overrides_the_rds_bundle(ca_file: str) -> None:
    assert _subjects(tls.context_for(RDS_CLUSTER, ca_file)) == {"Charlee test CA"}


def test_tls_is_for_every_host_but_this_machine() -> None:
    for host in ("localhost", "127.0.0.1", "::1", "[::1]", "127.0.0.53"):
        assert not tls.uses_tls(host, None), host
    for host in (RDS_CLUSTER, "10.0.0.5", "db.internal", "localhost.example.com"):
        assert tls.uses_tls(host, None), host
    assert tls.uses_tls("127.0.0.1", True)
    assert not tls.uses_tls(RDS_CLUSTER, False)


def test_a_certificate_that_does_not_verify_is_one_line_for_the_operator(tls_server: TlsServer) -> None:
    with pytest.raises(ssl.SSLCertVerificationError) as error:
        tls_server.encrypted(tls=True)
    assert explain_error(error.value, lambda: tls_server.url) == (
        f"database error: PostgreSQL at localhost:{tls_server.url.port}, database 'postgres': its TLS "
        "certificate could not be verified (unable to get local issuer certificate); DB_CA_BUNDLE "
        "names the CA it chains to",
        True,
    )


def test_the_cli_says_when_tls_is_off_for_another_machine(tmp_path: Path) -> None:
    cli = Cli(
        tmp_path, {"DATABASE_URL": "postgresql://charlee@db.example.invalid/charlee", "DB_TLS": "false"}
    )
    result = cli("platforms", "list", expect=1)
    assert result.stderr.splitlines()[0] == (
        "warning: DB_TLS=false: the connection to db.example.invalid is not encrypted; passwords and "
        "rows cross the network in clear (leave DB_TLS unset for TLS)"
    )


def test_the_functions_engine_takes_db_tls_and_db_ca_bundle_from_the_environment(
    tls_server: TlsServer, ca_file: str
) -> None:
    assert Settings.from_env({}).db_tls is None  # unset: decided by the host
    assert Settings.from_env({"DB_TLS": "false"}).db_tls is False
    env = {
        "DATABASE_URL": tls_server.url.render_as_string(hide_password=False),
        "DB_TLS": "true",
        "DB_CA_BUNDLE": ca_file,
    }
    try:
        with get_engine(Settings.from_env(env)).connect() as conn:
            conn.execute(text("SELECT 1"))
        assert tls_server.front.sessions[-1] == "tls"
    finally:
        dispose_engines()
