"""A role of its own for a test: one the test can shut out (``CONNECTION LIMIT``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

PASSWORD = "role-Secret-9"


@asynccontextmanager
async def own_role(admin: Any, url: str) -> AsyncIterator[tuple[str, str]]:
    """(role, its URL to ``url``'s database, which it owns); dropped afterwards.

    ``admin`` is a superuser's connection to that database.
    """
    role = f"tight_{uuid.uuid4().hex[:8]}"
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
    await admin.execute(f'ALTER DATABASE "{name}" OWNER TO {role}')
    host = parts.netloc.rpartition("@")[2]
    try:
        yield (
            role,
            urlunsplit((parts.scheme, f"{role}:{PASSWORD}@{host}", parts.path, parts.query, "")),
        )
    finally:
        await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
        )
        await admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE {role}")


async def shut_out(admin: Any, role: str) -> None:
    """The role's connections end, and new ones are refused (too many connections)."""
    await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT 0")
    await admin.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", role
    )


async def let_in(admin: Any, role: str) -> None:
    await admin.execute(f"ALTER ROLE {role} CONNECTION LIMIT -1")
