"""Advisory lock keys: one stable bigint per (namespace, id).

``lock_key("guild", 42)`` is the first 8 bytes of BLAKE2b over ``"imagine-bot:guild:42"``,
read as a signed big-endian integer (PostgreSQL's bigint). Every process and Python
version derives the same key (``hash()`` would not: it is salted per process), and the
namespace keeps a guild, a member and a channel with equal ids apart. Two keys that
collide only make two unrelated sections wait for each other, never overlap.
"""

from __future__ import annotations

import hashlib


def lock_key(namespace: str, value: int | str) -> int:
    digest = hashlib.blake2b(f"imagine-bot:{namespace}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
