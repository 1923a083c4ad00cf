"""TLS to PostgreSQL: whether a host gets it, and what its certificate must chain to.

Every host but a loopback address (and a Unix socket) gets TLS unless ``DB_TLS=false`` asks
otherwise, and then ``plaintext_warning`` has a line for it. The certificate is always verified,
host name included: against ``DB_CA_BUNDLE`` when set (that file alone); for an RDS or Aurora
host (``*.rds.amazonaws.com``) against AWS's RDS CA bundle shipped in the layer
(``certificates/rds-global-bundle.pem``, its provenance beside it) plus the system store, which
the certificates of RDS Proxy chain to; elsewhere against the system store. A bundle that cannot
be read is a ``ConfigurationError``: there is no unverified fallback.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from charlee_collector.core.errors import ConfigurationError
from charlee_collector.core.hosts import is_loopback

RDS_CA_BUNDLE = Path(__file__).parent / "certificates" / "rds-global-bundle.pem"
# RDS and Aurora endpoints (instances, clusters, proxies) in the commercial and China partitions.
RDS_HOST_SUFFIXES = (".rds.amazonaws.com", ".rds.amazonaws.com.cn")


def is_rds_host(host: str) -> bool:
    """Whether ``host`` is an RDS or Aurora endpoint (an instance, a cluster or an RDS Proxy)."""
    name = host.lower().rstrip(".")
    return name.endswith(RDS_HOST_SUFFIXES)


def uses_tls(host: str | None, asked: bool | None) -> bool:
    """TLS as asked (``DB_TLS``); unasked, for every host that is not this machine."""
    if asked is not None:
        return asked
    return not is_loopback(host)


def plaintext_warning(host: str | None, asked: bool | None) -> str | None:
    """The line to say when a connection to another machine goes without TLS because it was asked."""
    if asked is False and not is_loopback(host):
        return (
            f"DB_TLS=false: the connection to {host} is not encrypted; passwords and rows cross the "
            "network in clear (leave DB_TLS unset for TLS)"
        )
    return None


def context_for(host: str, ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context for ``host`` (module docstring); ``ConfigurationError`` when the
    bundle it needs cannot be read."""
    context = ssl.create_default_context()  # CERT_REQUIRED and host name checks, the system store
    if ca_bundle:
        context = ssl.create_default_context(cafile=_readable(ca_bundle, "DB_CA_BUNDLE"))
    elif is_rds_host(host):
        context.load_verify_locations(cafile=_readable(str(RDS_CA_BUNDLE), "the layer's RDS CA bundle"))
    return context


def _readable(path: str, named_by: str) -> str:
    try:
        with open(path, "rb") as handle:
            if b"-----BEGIN CERTIFICATE-----" not in handle.read():
                raise ConfigurationError(f"{named_by} ({path}) holds no PEM certificate")
    except OSError as exc:
        raise ConfigurationError(f"{named_by} ({path}) cannot be read: {exc.strerror or exc}") from None
    return path
