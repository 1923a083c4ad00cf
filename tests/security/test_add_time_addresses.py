"""What ``platforms add`` judges without DNS (``addresses.known_addresses``) is what the fetch
layer's resolver makes of the same host: the literal forms agree with ``getaddrinfo`` told not
to look anything up, and a name is left to the fetch."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from charlee_collector.fetching.addresses import is_forbidden_address, known_addresses

LITERALS = [
    "169.254.169.254",
    "0xA9FEA9FE",
    "0xa9.0xfe.0xa9.0xfe",
    "2852039166",
    "0251.0376.0251.0376",
    "169.254.43518",
    "127.1",
    "10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:a9fe:a9fe",
    "fd00:ec2::254",
    "64:ff9b::a9fe:a9fe",
    "::1",
]


@pytest.mark.parametrize("host", LITERALS)
def test_literal_forms_mean_what_the_resolver_makes_of_them(host: str) -> None:
    infos = socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP, flags=socket.AI_NUMERICHOST)
    resolved = {ipaddress.ip_address(info[4][0]) for info in infos}
    assert set(known_addresses(host)) == resolved
    assert all(is_forbidden_address(a, allow_private=False) for a in resolved)


def test_brackets_zones_and_localhost_names() -> None:
    assert known_addresses("[fe80::1%25eth0]") == (ipaddress.ip_address("fe80::1"),)
    loopback = {ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
    assert set(known_addresses("localhost")) == set(known_addresses("API.LOCALHOST.")) == loopback


@pytest.mark.parametrize("host", ["example.org", "169.254.169.254.nip.io", "1.2.3.4.5", "0x", "99999999999"])
def test_names_and_impossible_numbers_are_left_to_the_fetch_layer(host: str) -> None:
    assert known_addresses(host) == ()
