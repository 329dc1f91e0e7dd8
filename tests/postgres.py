"""A real PostgreSQL for tests: one fresh database per test, dropped afterwards.

``TEST_DATABASE_URL`` names a server whose user may create databases;
``bash .ci/with-postgres CMD...`` starts a throwaway one and sets it. Without it the
PostgreSQL tests skip with ``SKIP_REASON``; with ``REQUIRE_POSTGRES=1`` (as ``.ci/run``
sets) a missing or unreachable server fails them instead.

For any test folder (registered in ``tests/conftest.py``):
- fixture ``postgres_url``: the URL of a fresh, empty database (no schema yet), dropped
  after the test, whoever is still connected to it;
- fixture ``postgres_server``: ``TEST_DATABASE_URL`` itself, checked reachable;
- ``asyncpg = import_asyncpg()`` at a module's top, for modules that use it directly;
- ``async with temporary_database() as url``, ``await fresh_database()`` /
  ``await drop_database(url)``: the same outside a fixture (several databases per test).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

SKIP_REASON = (
    "PostgreSQL tests need TEST_DATABASE_URL (bash .ci/run starts a server; "
    "or run: bash .ci/with-postgres .venv/bin/python -m pytest -q)"
)
_names = itertools.count()
_checked: dict[str, str | None] = {}  # server URL -> why it cannot be used (None: fine)


def _required() -> bool:
    return os.environ.get("REQUIRE_POSTGRES", "") not in ("", "0")


def _unusable(why: str) -> None:
    """Skip the test, or fail it where PostgreSQL is required (REQUIRE_POSTGRES=1)."""
    if _required():
        pytest.fail(f"REQUIRE_POSTGRES is set, but {why}", pytrace=False)
    pytest.skip(why)


def import_asyncpg() -> Any:
    """asyncpg for a test module's top: skips the module without it (fails if required)."""
    try:
        import asyncpg
    except ImportError:
        if _required():
            raise
        pytest.skip(
            "asyncpg is not installed (pip install -e '.[postgres]')", allow_module_level=True
        )
    return asyncpg


def _with_database(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def _admin(server_url: str):  # -> asyncpg.Connection
    import asyncpg

    return await asyncpg.connect(server_url, timeout=10)


async def server_url() -> str:
    """``TEST_DATABASE_URL``, reachable; otherwise the test skips (or fails: see above)."""
    url = os.environ.get("TEST_DATABASE_URL", "").strip()
    if not url:
        _unusable(SKIP_REASON)
    if url not in _checked:
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            _checked[url] = "asyncpg is not installed (pip install -e '.[test,postgres]')"
        else:
            try:
                conn = await _admin(url)
            except Exception as exc:
                _checked[url] = f"the server in TEST_DATABASE_URL is unreachable: {exc}"
            else:
                await conn.close()
                _checked[url] = None
    why = _checked[url]
    if why is not None:
        _unusable(why)
    return url


async def fresh_database() -> str:
    """Create an empty database on the test server; its URL (same user, same host)."""
    server = await server_url()
    name = f"imagine_test_{os.getpid()}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    conn = await _admin(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server, name)


async def drop_database(url: str) -> None:
    """Drop the database ``fresh_database`` made, closing whatever still holds it."""
    server = await server_url()
    name = urlsplit(url).path.lstrip("/")
    conn = await _admin(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def temporary_database() -> AsyncIterator[str]:
    url = await fresh_database()
    try:
        yield url
    finally:
        await drop_database(url)


@pytest.fixture
async def postgres_server() -> str:
    return await server_url()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with temporary_database() as url:
        yield url
