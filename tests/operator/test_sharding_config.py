"""SHARD_COUNT / SHARD_IDS as an operator sets them: what starts, and each refusal's line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Sharding, load_bot_settings
from bot.errors import ConfigError
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway
from tests.processes import TOKEN, bot_environment, bot_process

COMPLETE = {
    "DISCORD_TOKEN": "token-value",
    "SECRET_KEY": "a-secret-key-long-enough",
    "IMAGE_API_BASE_URL": "http://127.0.0.1:9/v1",
    "IMAGE_API_KEY": "gateway-key",
}
POSTGRES = {"DATABASE_URL": "postgresql://bot@db.internal/imagine"}
SQLITE_REFUSED = (
    "SHARD_IDS=1 leaves the other shards of SHARD_COUNT=2 to other processes, which need "
    "a shared database: set DATABASE_URL=postgresql://... (SQLite is one process's file)"
)


@pytest.mark.parametrize(
    ("env", "sharding"),
    [
        ({}, None),
        ({"SHARD_COUNT": "1"}, Sharding(1, (0,))),
        ({"SHARD_COUNT": "2"}, Sharding(2, (0, 1))),  # one process, every shard: SQLite is fine
        ({"SHARD_COUNT": "4", "SHARD_IDS": " 2, 3 ", **POSTGRES}, Sharding(4, (2, 3))),
        ({"SHARD_COUNT": "1", "SHARD_IDS": "0"}, Sharding(1, (0,))),
    ],
)
def test_shard_settings(env: dict[str, str], sharding: Sharding | None) -> None:
    assert load_bot_settings({**COMPLETE, **env}).sharding == sharding


def test_the_start_line_names_the_shards() -> None:
    assert Sharding(4, (0, 1)).describe() == "shards 0,1 of 4"
    assert Sharding(2, (1,)).describe() == "shard 1 of 2"


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SHARD_IDS": "0,1"},
            "SHARD_IDS needs SHARD_COUNT: set SHARD_COUNT to the number of shards across "
            "every process",
        ),
        ({"SHARD_COUNT": "0"}, "SHARD_COUNT must be a whole number of shards, 1 or more, got '0'"),
        (
            {"SHARD_COUNT": "two"},
            "SHARD_COUNT must be a whole number of shards, 1 or more, got 'two'",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0;1", **POSTGRES},
            "SHARD_IDS must be shard numbers separated by commas, like 0,1, got '0;1'",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "-1", **POSTGRES},
            "SHARD_IDS must be shard numbers separated by commas, like 0,1, got '-1'",
        ),
        (
            {"SHARD_COUNT": "2", "SHARD_IDS": "0,2", **POSTGRES},
            "SHARD_IDS names shard 2, but SHARD_COUNT=2 numbers them 0 to 1",
        ),
        (
            {"SHARD_COUNT": "4", "SHARD_IDS": "1,3,1", **POSTGRES},
            "SHARD_IDS names shard 1 twice",
        ),
        ({"SHARD_COUNT": "2", "SHARD_IDS": "1"}, SQLITE_REFUSED),
        (
            {"SHARD_COUNT": "3", "SHARD_IDS": "0,2", "DATABASE_URL": "sqlite:///data/bot.db"},
            "SHARD_IDS=0,2 leaves the other shards of SHARD_COUNT=3 to other processes, which "
            "need a shared database: set DATABASE_URL=postgresql://... (SQLite is one "
            "process's file)",
        ),
    ],
)
def test_bad_shard_settings_are_one_line(env: dict[str, str], line: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_bot_settings({**COMPLETE, **env})
    assert str(caught.value) == line


async def test_python_m_bot_refuses_a_share_of_the_shards_on_sqlite(tmp_path: Path) -> None:
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = bot_environment(fake, gw, tmp_path, SHARD_COUNT="2", SHARD_IDS="1")
        async with bot_process(env, tmp_path) as bot:
            status = await bot.process.wait()
            await bot.wait_for_line(r"^error: ")
    assert status == 1
    assert bot.lines == [f"error: {SQLITE_REFUSED}"]
    assert fake.requests == []  # refused before Discord is asked anything
