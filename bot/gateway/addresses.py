"""A gateway's address as people may read it: in logs, sentences and /settings show.

Never the user info, query or fragment of a base URL: keys travel there on some
gateways (``?key=``, ``user:key@``).
"""

from __future__ import annotations

from urllib.parse import urlsplit


def gateway_address(url: str) -> str:
    """``scheme://host[:port]/path``: no user info, query or fragment."""
    parts = urlsplit(str(url))
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: the URL was refused long before; show no port
        port = ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path.rstrip('/')}"


def host_of(url: object) -> str:
    """``host[:port]`` of a URL, for sentences and logs."""
    parts = urlsplit(str(url))
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host
