"""The address of the person behind a request, when the service runs behind reverse proxies.

Behind a load balancer every peer is the proxy, so a click's address (one of the signals TikTok matches) would be
the proxy's. ``X-Forwarded-For`` is believed only as far as it was written by proxies the operator listed in
``PARTNER_TRUSTED_PROXIES``: from the connection's peer leftwards, each trusted hop hands over to the address it
saw, and the first address that is not a trusted proxy is the client. Anything a client wrote itself stays to the
left of that and is ignored, and a malformed entry ends the walk at the last good hop instead of failing the
request (a customer following a link must always reach the chat).
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

from aiohttp import hdrs, web

Network = IPv4Network | IPv6Network
Address = IPv4Address | IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.0.2.7"`` -> networks; ValueError naming the first item that is neither."""
    networks: list[Network] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network (e.g. 10.0.0.0/8)") from None
    return tuple(networks)


def client_ip(request: web.Request, trusted: Sequence[Network]) -> str | None:
    """The client's address: the peer's, or with trusted proxies the first untrusted hop of X-Forwarded-For."""
    peer = _address(request.remote)
    if peer is None or not trusted or not _trusted(peer, trusted):
        return request.remote
    client = peer
    for entry in reversed(_forwarded_for(request)):
        hop = _address(entry)
        if hop is None:
            break
        client = hop
        if not _trusted(hop, trusted):
            break
    return str(client)


def _forwarded_for(request: web.Request) -> list[str]:
    """Every X-Forwarded-For entry, nearest proxy last (several headers read as one list, as RFC 9110 says)."""
    return [entry.strip() for value in request.headers.getall(hdrs.X_FORWARDED_FOR, ()) for entry in value.split(",")]


def _address(text: str | None) -> Address | None:
    if not text:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:10.0.0.1 from a dual-stack socket is 10.0.0.1
    return address


def _trusted(address: Address, trusted: Sequence[Network]) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
