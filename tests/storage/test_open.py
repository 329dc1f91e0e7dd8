"""The driver registry: one opener per URL scheme, and every registered driver tested."""

from __future__ import annotations

import re
from importlib.util import find_spec
from typing import Any

import pytest

import bot.storage
from bot.errors import ConfigError
from bot.storage import DRIVERS, Store, open_store
from bot.storage.driver import Driver
from bot.storage.sqlite import SQLiteStore
from tests.storage.drivers import TEST_DRIVERS


def test_every_registered_driver_is_tested() -> None:
    assert set(DRIVERS) == {scheme for d in TEST_DRIVERS.values() for scheme in d.schemes}


async def test_each_driver_goes_through_the_one_checked_path(store: Store) -> None:
    # Driver's public methods check the arguments; a driver only implements the hooks.
    assert isinstance(store, Driver)


def test_a_driver_may_not_override_a_checked_method() -> None:
    with pytest.raises(TypeError, match="put_blob"):

        class Careless(SQLiteStore):
            async def put_blob(self, data: bytes, *args: Any, **kwargs: Any) -> Any:
                return None


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:hunter2@127.0.0.1:1/bot",
        "postgres://u:hunter2@127.0.0.1:1/bot",
        "postgresql+asyncpg://u:hunter2@127.0.0.1:1/bot",
    ],
)
async def test_postgresql_urls_go_to_the_postgresql_driver(url: str) -> None:
    # Port 1 on the loopback: nothing listens, so the driver's own line comes back (or,
    # without the [postgres] extra, the line saying how to install it).
    expected = "cannot connect to the PostgreSQL" if find_spec("asyncpg") else "postgres]'"
    with pytest.raises(ConfigError, match=re.escape(expected)) as info:
        await open_store(url)
    assert "hunter2" not in str(info.value)
    assert "DATABASE_URL" in str(info.value)


@pytest.mark.parametrize("url", ["mysql://db/bot", "bot.db", "", "u:hunter2@db"])
async def test_unknown_scheme_names_database_url(url: str) -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL") as info:
        await open_store(url)
    assert "hunter2" not in str(info.value)
    assert "sqlite:///" in str(info.value)


async def test_a_registered_opener_gets_the_url_and_the_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, dict[str, Any]]] = []

    async def opener(database_url: str, **options: Any) -> Any:
        seen.append((database_url, options))
        return "a store"

    monkeypatch.setitem(bot.storage.DRIVERS, "memo", opener)

    def clock() -> float:
        return 5.0

    assert await open_store("MEMO+lib://x", clock=clock, blob_grace=1.0) == "a store"
    assert seen == [("MEMO+lib://x", {"clock": clock, "blob_grace": 1.0})]
