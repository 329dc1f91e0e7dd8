"""Refuse gateway and image URLs that lead into the host's own network (SSRF guard).

A server admin can point the bot at any base URL through ``/settings``; without this
check the bot would probe loopback services, the LAN or a cloud metadata endpoint on
their behalf. The host is resolved at request time (DNS may change after the setting
was saved) and every address it resolves to must be globally routable.

The name is resolved again when the connection is made, so a DNS server could answer
differently in between (DNS rebinding). The request therefore carries
``PUBLIC_ONLY``, and the transport's (``bot.transport``) resolver drops every address this
module would refuse: the connection can only go to an address judged here. This
check still comes first, for its clear message. With HTTP(S)_PROXY set, the proxy
connects, and only this first check applies (see bot.transport).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from bot.errors import UnsafeGatewayURL
from bot.gateway.transport_errors import not_resolving
from bot.i18n import _

Resolver = Callable[[str, int], Awaitable[list[str]]]

# A request extension: connect only to globally routable addresses, judged on the very
# addresses the connection uses (ensure_public_url checks the name beforehand; the
# transport's resolver closes the window in which a DNS answer could change between
# the two). Defined here, beside the rule, so the gateway need not import the transport.
PUBLIC_ONLY = "imagine.public_only"

# Cloud metadata endpoints, named even though the ranges below already cover them.
METADATA_ADDRESSES = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def is_public_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that embed an IPv4 address are judged by that address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(str(embedded))
    if ip in METADATA_ADDRESSES:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return False  # fec0::/10: deprecated, but still routed inside some networks
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


async def ensure_public_url(url: str, *, resolve: Resolver | None = None) -> None:
    """Raise UnsafeGatewayURL unless every address of ``url``'s host is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeGatewayURL(_("The gateway address must be an http:// or https:// URL."))
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeGatewayURL(_("The gateway address has an invalid port.")) from None
    host = parts.hostname
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
        addresses = [host]
    except ValueError:
        try:
            addresses = await (resolve or system_resolve)(host, port)
        except (OSError, UnicodeError) as exc:
            raise not_resolving(host) from exc
    if not addresses or not all(is_public_address(a) for a in addresses):
        raise UnsafeGatewayURL()
