"""The SSRF guard judges every address by what it reaches: IPv6 forms that carry an IPv4
address are judged by that address, and cloud metadata is refused in every spelling, with
private networks allowed or not.

The table holds each form with and without ``allow_private``; the URL cases go through the
real ``fetch.get`` with a real client, and an audit hook proves no socket was even opened.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from charlee_collector.core.errors import PermanentSourceError, SourceError
from charlee_collector.core.settings import Settings
from charlee_collector.fetching.addresses import embedded_ipv4, is_forbidden_address
from charlee_collector.fetching.client import build_client, get
from tests.support.drip_server import ConnectRecorder


def teredo(server: str, client: str) -> str:
    """A Teredo address (2001::/32) for ``server`` and ``client`` (stored inverted, RFC 4380)."""
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64)
    return str(ipaddress.IPv6Address(value | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)))


# (address, refused without private networks, refused with private networks allowed)
ALWAYS, PRIVATE, PUBLIC = (True, True), (True, False), (False, False)
ADDRESSES = [
    # plain IPv4
    ("8.8.8.8", PUBLIC),
    ("10.1.2.3", PRIVATE),
    ("127.0.0.1", PRIVATE),
    ("100.64.0.1", PRIVATE),
    ("169.254.169.254", ALWAYS),
    ("169.254.170.2", ALWAYS),  # ECS task metadata
    ("169.254.170.23", ALWAYS),  # EKS pod identity
    ("169.254.169.253", ALWAYS),  # AWS DNS
    ("169.254.10.10", ALWAYS),  # all of link-local: every cloud's service range
    ("100.100.100.200", ALWAYS),  # Alibaba
    ("168.63.129.16", ALWAYS),  # Azure WireServer
    # plain IPv6
    ("2606:4700:4700::1111", PUBLIC),
    ("::1", PRIVATE),
    ("fc00::1", PRIVATE),
    ("fe80::1", PRIVATE),
    ("fec0::1", PRIVATE),  # site-local
    ("fec0:0:0:ffff::1", PRIVATE),
    ("fd00:ec2::254", ALWAYS),
    ("fd00:ec2::23", ALWAYS),
    ("fd00:ec2::1234", ALWAYS),
    # IPv4-mapped and -translated
    ("::ffff:8.8.8.8", PUBLIC),
    ("::ffff:127.0.0.1", PRIVATE),
    ("::ffff:169.254.169.254", ALWAYS),
    ("::ffff:a9fe:a9fe", ALWAYS),
    ("::ffff:0:a9fe:a9fe", ALWAYS),
    ("::ffff:0:10.0.0.1", PRIVATE),
    # IPv4-compatible (deprecated)
    ("::169.254.169.254", ALWAYS),
    ("::127.0.0.1", PRIVATE),
    ("::10.0.0.1", PRIVATE),
    # 6to4
    ("2002:a9fe:a9fe::", ALWAYS),
    ("2002:a9fe:a9fe:1:2:3:4:5", ALWAYS),
    ("2002:7f00:1::", PRIVATE),
    ("2002:c0a8:101::1", PRIVATE),
    ("2002:808:808::", PUBLIC),
    # NAT64, the well-known prefix
    ("64:ff9b::a9fe:a9fe", ALWAYS),
    ("64:ff9b::169.254.169.254", ALWAYS),
    ("64:ff9b::7f00:1", PRIVATE),
    ("64:ff9b::a00:1", PRIVATE),
    ("64:ff9b::808:808", PUBLIC),
    # NAT64, local use (RFC 8215): never public; metadata at any RFC 6052 position
    ("64:ff9b:1::a9fe:a9fe", ALWAYS),
    ("64:ff9b:1:a9fe:a9:fe00::", ALWAYS),  # a /48 prefix
    ("64:ff9b:1::808:808", PRIVATE),
    # NAT64 under an operator's own prefix: the metadata hosts at every position
    ("2001:db8:64::a9fe:a9fe", ALWAYS),
    ("2a00:1450:64::a9fe:a9fe", ALWAYS),
    ("2a00:1450:a9fe:a9fe::", ALWAYS),  # a /32 prefix
    # Teredo: server and client both judged
    (teredo("65.54.227.120", "169.254.169.254"), ALWAYS),
    (teredo("169.254.169.254", "8.8.4.4"), ALWAYS),
    (teredo("65.54.227.120", "10.0.0.1"), PRIVATE),
    (teredo("65.54.227.120", "8.8.4.4"), PUBLIC),
    # ISATAP interface identifiers
    ("2606:4700::5efe:a9fe:a9fe", ALWAYS),
    ("2606:4700::200:5efe:a9fe:a9fe", ALWAYS),
    ("2606:4700::5efe:10.0.0.1", PRIVATE),
    ("2606:4700::200:5efe:808:808", PUBLIC),
]


@pytest.mark.parametrize(("address", "refused"), ADDRESSES, ids=[a for a, _ in ADDRESSES])
@pytest.mark.parametrize("allow_private", [False, True], ids=["strict", "private-allowed"])
def test_every_address_is_judged_by_what_it_reaches(
    address: str, refused: tuple[bool, bool], allow_private: bool
) -> None:
    expected = refused[1] if allow_private else refused[0]
    assert is_forbidden_address(ipaddress.ip_address(address), allow_private=allow_private) is expected


@pytest.mark.parametrize(
    ("address", "carried"),
    [
        ("::ffff:10.0.0.1", ["10.0.0.1"]),
        ("::a9fe:a9fe", ["169.254.169.254"]),
        ("2002:a9fe:a9fe::", ["169.254.169.254"]),
        ("64:ff9b::a9fe:a9fe", ["169.254.169.254"]),
        (teredo("65.54.227.120", "10.0.0.1"), ["65.54.227.120", "10.0.0.1"]),
        ("2606:4700::200:5efe:a9fe:a9fe", ["169.254.169.254"]),
        ("::1", []),
        ("::", []),
        ("2606:4700:4700::1111", []),
    ],
)
def test_embedded_ipv4_finds_what_each_form_carries(address: str, carried: list[str]) -> None:
    assert [str(a) for a in embedded_ipv4(ipaddress.IPv6Address(address))] == carried


# --- through the real client -------------------------------------------------------------------


@pytest.fixture
def connects() -> Iterator[ConnectRecorder]:
    with ConnectRecorder().recording() as recorder:
        yield recorder


METADATA_URLS = [
    "http://[2002:a9fe:a9fe::]/latest/meta-data/",
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",
    "http://[64:ff9b::169.254.169.254]/",
    "http://[64:ff9b:1::a9fe:a9fe]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::a9fe:a9fe]/",
    "http://[fd00:ec2::254]/latest/api/token",
    f"http://[{teredo('65.54.227.120', '169.254.169.254')}]/",
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://0xa9fea9fe/",  # hexadecimal
    "http://0xA9FEA9FE/",
    "http://2852039166/",  # decimal
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://169.254.43518/",  # a.b.c
    "https://[2002:a9fe:a9fe::]:8443/",
]


@pytest.mark.parametrize("url", METADATA_URLS)
@pytest.mark.parametrize("allow_private", [False, True], ids=["strict", "private-allowed"])
def test_metadata_in_any_spelling_is_refused_before_any_socket(
    url: str, allow_private: bool, connects: ConnectRecorder
) -> None:
    settings = Settings(allow_private_networks=allow_private)
    with build_client(settings) as client, pytest.raises(PermanentSourceError, match="metadata") as caught:
        get(client, url, settings=settings)
    assert "refused to fetch" in str(caught.value)
    assert connects.addresses == []


@pytest.mark.parametrize(
    "url",
    [
        "http://0251.0376.0251.0376/",  # octal: httpx refuses it as an IPv4 address
        "http://169.254.169.254./",  # trailing dot: a name to look up, never the address
        "http://[fe80::a9fe:a9fe%25eth0]/",
    ],
)
def test_other_metadata_spellings_never_open_a_socket_either(url: str, connects: ConnectRecorder) -> None:
    settings = Settings(allow_private_networks=True)
    with build_client(settings) as client, pytest.raises(SourceError):
        get(client, url, settings=settings)
    assert connects.addresses == []


@pytest.mark.parametrize(
    "url",
    [
        "http://[fec0::1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[2002:7f00:1::]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[64:ff9b:1::808:808]/",
        "http://0x7f000001/",
        "http://127.1/",
    ],
)
def test_private_targets_in_ipv6_or_odd_spellings_are_refused_by_default(
    url: str, connects: ConnectRecorder
) -> None:
    settings = Settings(allow_private_networks=False)
    with build_client(settings) as client, pytest.raises(PermanentSourceError, match="not a public address"):
        get(client, url, settings=settings)
    assert connects.addresses == []


def test_the_connect_time_guard_judges_embedded_addresses_too(connects: ConnectRecorder) -> None:
    """The client's own network backend refuses as well (the DNS-rebinding half of the guard):
    a request that skips ``get``'s pre-check opens no socket to a 6to4 metadata address."""
    with build_client(Settings(allow_private_networks=True)) as client, pytest.raises(PermanentSourceError):
        client.get("http://[2002:a9fe:a9fe::]/latest/meta-data/")
    assert connects.addresses == []
