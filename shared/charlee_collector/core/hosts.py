"""Whether a host is this machine: what crosses no network needs no TLS (database, credentials)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str | None) -> bool:
    """Whether ``host`` is this machine: none, ``localhost`` or a loopback address (no name lookup)."""
    if not host or host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
