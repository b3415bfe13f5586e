"""Which address a request comes from behind reverse proxies: X-Forwarded-For is believed only as far as trusted
proxies wrote it, so a client cannot choose the address a click is recorded with."""

from __future__ import annotations

import re
from ipaddress import ip_network

import pytest
from aiohttp.test_utils import make_mocked_request
from hypothesis import given
from hypothesis import strategies as st

from partner.client_ip import client_ip, parse_networks

PROXIES = (ip_network("10.0.0.0/8"), ip_network("2001:db8::/32"))


def _ip(peer: str, *forwarded: str) -> str | None:
    headers = [("X-Forwarded-For", value) for value in forwarded]
    request = make_mocked_request("GET", "/r/abc", headers=headers)
    request = request.clone(remote=peer)
    return client_ip(request, PROXIES)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", (), "203.0.113.9"),  # no proxy
        ("203.0.113.9", ("198.51.100.1",), "203.0.113.9"),  # an untrusted peer cannot claim another address
        ("10.0.0.2", ("198.51.100.1",), "198.51.100.1"),  # one trusted proxy
        ("10.0.0.2", ("198.51.100.1, 10.1.2.3",), "198.51.100.1"),  # two trusted proxies
        ("10.0.0.2", ("6.6.6.6, 198.51.100.1",), "198.51.100.1"),  # a forged entry to the left is ignored
        ("10.0.0.2", ("6.6.6.6", "198.51.100.1, 10.1.2.3"), "198.51.100.1"),  # several headers are one list
        ("10.0.0.2", ("10.9.9.9, 10.1.1.1",), "10.9.9.9"),  # every hop trusted: the leftmost
        ("10.0.0.2", ("garbage, 10.1.1.1",), "10.1.1.1"),  # malformed: the last good hop, no error
        ("10.0.0.2", ("",), "10.0.0.2"),
        ("::ffff:10.0.0.2", ("198.51.100.1",), "198.51.100.1"),  # IPv4 peer on a dual-stack socket
        ("2001:db8::1", ("2001:db8:1::5, 2001:db8::7",), "2001:db8:1::5"),  # all trusted IPv6: leftmost
        ("2001:db8::1", ("2a00:1450::1",), "2a00:1450::1"),
    ],
)
def test_client_address(peer: str, forwarded: tuple[str, ...], expected: str) -> None:
    assert _ip(peer, *forwarded) == expected


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": "198.51.100.1"}).clone(remote="10.0.0.2")
    assert client_ip(request, ()) == "10.0.0.2"


@given(forged=st.lists(st.ip_addresses().map(str), max_size=4))
def test_whatever_a_client_prepends_the_proxy_s_view_wins(forged: list[str]) -> None:
    """The entry the trusted proxy appended is the answer, whatever the client put before it."""
    assert _ip("10.0.0.2", ", ".join([*forged, "198.51.100.1"])) == "198.51.100.1"


def test_parse_networks() -> None:
    assert parse_networks(" 10.0.0.0/8, 192.0.2.7 ,,2001:db8::/32") == (
        ip_network("10.0.0.0/8"),
        ip_network("192.0.2.7/32"),
        ip_network("2001:db8::/32"),
    )
    assert parse_networks("") == ()
    with pytest.raises(ValueError, match=re.escape("'10.0.0.300' is not an IP address or network")):
        parse_networks("10.0.0.0/8,10.0.0.300")
