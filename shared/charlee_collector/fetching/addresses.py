"""Which addresses the collector may connect to: the SSRF guard's rules, with no I/O.

A non-public address (private, loopback, link-local, site-local, reserved, multicast,
unspecified) is refused unless private networks are allowed; a cloud metadata address
(``METADATA_NETWORKS``) is refused always, in every form. An IPv6 address that carries an IPv4
one (mapped, translated, compatible, NAT64, 6to4, Teredo, ISATAP: ``embedded_ipv4``) is judged
by what it carries. ``client`` applies these before each request and again at connect time;
``platforms add``/``update`` apply them to what ``known_addresses`` reads without a lookup.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable

from charlee_collector.core.errors import PermanentSourceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The hosts clouds serve instance metadata, credentials and platform services on: AWS IMDS (also
# GCP, Azure, OCI, DigitalOcean), ECS task metadata, EKS pod identity, AWS DNS and NTP, Alibaba,
# Azure's WireServer, and AWS's IPv6 twins.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",
        "169.254.170.2",
        "169.254.170.23",
        "169.254.169.253",
        "169.254.169.123",
        "100.100.100.200",
        "168.63.129.16",
        "fd00:ec2::254",
        "fd00:ec2::253",
        "fd00:ec2::123",
        "fd00:ec2::23",
    )
)
# Refused always. All of IPv4 link-local is in: no feed lives there, and every cloud keeps
# adding services to it; fd00:ec2::/32 is AWS's IPv6 counterpart.
METADATA_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.ip_network("169.254.0.0/16"),
    ipaddress.ip_network("fd00:ec2::/32"),
    *(ipaddress.ip_network(address) for address in METADATA_ADDRESSES),
)
# Not public, yet missing from (some Python versions of) ipaddress's tables.
_NON_PUBLIC_IPV6 = tuple(
    ipaddress.IPv6Network(network)
    for network in (
        "fec0::/10",  # site-local (deprecated, still routed inside some networks)
        "64:ff9b:1::/48",  # local-use NAT64 (RFC 8215): reaches the operator's own IPv4 space
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 segment identifiers
    )
)
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")  # SIIT (RFC 2765)
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d (minus :: and ::1)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# Where RFC 6052 puts the IPv4 address for each NAT64 prefix length (bits 64-71 are skipped).
_NAT64_PREFIX_LENGTHS = (32, 40, 48, 56, 64, 96)


def _low_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _rfc6052_ipv4(address: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    packed = address.packed
    if prefix_length == 96:
        return ipaddress.IPv4Address(packed[12:])
    without_u = packed[:8] + packed[9:]
    start = prefix_length // 8
    return ipaddress.IPv4Address(without_u[start : start + 4])


def _stands_for_ipv4(address: ipaddress.IPv6Address) -> bool:
    """Whether the address is only a way to reach an IPv4 one (so that one alone decides)."""
    if address.teredo or address.sixtofour:
        return True
    if address in _MAPPED or address in _TRANSLATED or address in _NAT64:
        return True
    return address in _COMPATIBLE and int(address) > 1


def embedded_ipv4(address: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address carries by a defined mechanism: mapped (::ffff:0:0/96),
    translated (::ffff:0:0:0/96), compatible (::/96), NAT64 (64:ff9b::/96; 64:ff9b:1::/48 at
    every RFC 6052 position), 6to4 (2002::/16), Teredo (server and client) and ISATAP."""
    found: list[ipaddress.IPv4Address] = []
    if _stands_for_ipv4(address):
        if address.teredo:
            found.extend(address.teredo)
        elif address.sixtofour:
            found.append(address.sixtofour)
        else:
            found.append(_low_ipv4(address))
    elif address in _LOCAL_NAT64:
        found.extend(_rfc6052_ipv4(address, length) for length in (48, 56, 64, 96))
    # ISATAP interface identifier: [00|01|02|03]00:5efe:a.b.c.d, under any prefix.
    if (int(address) >> 32) & 0xFCFFFFFF == 0x5EFE:
        found.append(_low_ipv4(address))
    return tuple(dict.fromkeys(found))


def is_metadata_address(address: IPAddress) -> bool:
    """Whether ``address`` is a cloud metadata address in any form (refused always)."""
    if any(address in network for network in METADATA_NETWORKS):
        return True
    if isinstance(address, ipaddress.IPv4Address):
        return False
    if any(is_metadata_address(inner) for inner in embedded_ipv4(address)):
        return True
    # An operator's NAT64 prefix can be any prefix (RFC 6052): the metadata hosts are refused at
    # every position such a prefix can put them, whatever the prefix.
    return any(_rfc6052_ipv4(address, length) in METADATA_ADDRESSES for length in _NAT64_PREFIX_LENGTHS)


def _is_non_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and any(address in net for net in _NON_PUBLIC_IPV6):
        return True
    return (
        not address.is_global
        or address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def is_forbidden_address(address: IPAddress, *, allow_private: bool) -> bool:
    """Whether a connection to ``address`` must be refused: metadata in any form always; a
    non-public address, or an IPv6 one carrying a non-public IPv4 address, unless private
    networks are allowed."""
    if is_metadata_address(address):
        return True
    if allow_private:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        embedded = embedded_ipv4(address)
        if any(_is_non_public(inner) for inner in embedded):
            return True
        if embedded and _stands_for_ipv4(address):
            return False  # its own prefix (reserved, 6to4, Teredo...) says nothing about the target
    return _is_non_public(address)


def refuse_forbidden(host: str, addresses: Iterable[IPAddress], *, allow_private: bool) -> None:
    """Raise ``PermanentSourceError`` naming the first address of ``host`` that may not be reached."""
    for address in addresses:
        if not is_forbidden_address(address, allow_private=allow_private):
            continue
        embedded = embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else ()
        culprits = [
            str(inner) for inner in embedded if is_forbidden_address(inner, allow_private=allow_private)
        ]
        carries = f" (which carries {', '.join(culprits)})" if culprits else ""
        why = (
            "a cloud metadata address, which is never fetched"
            if is_metadata_address(address)
            else "not a public address (set COLLECTOR_ALLOW_PRIVATE_NETWORKS=true only for local runs)"
        )
        raise PermanentSourceError(
            f"refused to fetch from host {host!r}: it resolves to {address}{carries}, {why}"
        )


# inet_aton's forms, which getaddrinfo reads as addresses too: 1 to 4 parts, each decimal, octal
# (leading 0) or hex (0x): 0xA9FEA9FE, 2852039166, 0251.0376.0251.0376, 169.254.43518.
_INET_ATON = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}$", re.IGNORECASE)
# RFC 6761: every resolver answers these with loopback, so they need no lookup to be judged.
_LOOPBACK: tuple[IPAddress, ...] = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))


def known_addresses(host: str) -> tuple[IPAddress, ...]:
    """The addresses ``host`` stands for without a DNS lookup: an IP literal in any form the
    resolver reads (IPv6 with or without brackets and zone, and inet_aton's hex, octal, decimal
    and short IPv4 forms), or loopback for ``localhost`` names; () for any other name."""
    name = host.strip().strip("[]").split("%", 1)[0].rstrip(".").lower()
    try:
        return (ipaddress.ip_address(name),)
    except ValueError:
        pass
    if _INET_ATON.match(name):
        try:
            return (ipaddress.IPv4Address(socket.inet_aton(name)),)  # parses; looks nothing up
        except OSError:
            return ()
    if name == "localhost" or name.endswith(".localhost"):
        return _LOOPBACK
    return ()
