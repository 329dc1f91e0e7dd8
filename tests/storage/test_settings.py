from __future__ import annotations

import pytest

from bot.limits import MAX_HISTORY_TURNS
from bot.storage import InvalidSetting, Store
from bot.storage.base import SETTING_NAMES, GuildSettings
from bot.storage.settings import VALIDATORS
from tests.storage.conftest import OpenDB


def test_every_setting_has_a_validator() -> None:
    assert set(VALIDATORS) == SETTING_NAMES


async def test_missing_row_gives_registered_defaults(store: Store) -> None:
    assert await store.get_settings(42) == GuildSettings(guild_id=42)


async def test_unknown_key_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="unknown setting.*colour"):
        await store.update_settings(1, colour="red")
    assert await store.get_settings(1) == GuildSettings(guild_id=1)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("history_turns", -1),
        ("history_turns", MAX_HISTORY_TURNS + 1),
        ("history_turns", True),
        ("history_turns", "3"),
        ("history_turns", None),
        ("user_concurrency", 0),
        ("guild_concurrency", 2.5),
        ("user_hourly", -1),
        ("guild_daily", "10"),
        ("aspect_ratio", "7:3"),
        ("aspect_ratio", ""),
        ("image_size", "8K"),
        ("image_size", "1k"),
        ("gateway_dialect", "openai"),
        ("gateway_base_url", "ftp://example.com"),
        ("gateway_base_url", "not a url"),
        ("gateway_key_encrypted", "plaintext-key"),
        ("allowed_channels", "123"),
        ("allowed_channels", [1, -2]),
        ("allowed_channels", [1, "2"]),
        ("allowed_channels", 7),
        ("model", ""),
        ("model", "two words"),
        ("model", 5),
    ],
)
async def test_invalid_values_are_rejected(store: Store, name: str, value: object) -> None:
    with pytest.raises(InvalidSetting, match=name):
        await store.update_settings(1, **{name: value})
    assert await store.get_settings(1) == GuildSettings(guild_id=1)


async def test_bad_url_error_does_not_echo_the_value(store: Store) -> None:
    with pytest.raises(ValueError) as info:
        await store.update_settings(1, gateway_base_url="sk-or-v1-secretsecret")
    assert "secretsecret" not in str(info.value)


async def test_one_bad_value_rejects_the_whole_update(store: Store) -> None:
    with pytest.raises(ValueError):
        await store.update_settings(1, history_turns=4, image_size="9K")
    assert (await store.get_settings(1)).history_turns == 6


async def test_valid_update_returns_and_keeps_values(store: Store) -> None:
    updated = await store.update_settings(
        7,
        model="google/gemini-2.5-flash-image",
        aspect_ratio="16:9",
        image_size="2K",
        history_turns=0,
        allowed_channels=[30, 10, 30],
        user_hourly=0,
        guild_daily=None,
        gateway_dialect="google",
    )
    assert updated.allowed_channels == (30, 10)
    assert updated == await store.get_settings(7)
    later = await store.update_settings(7, aspect_ratio=None, user_concurrency=5)
    assert later.aspect_ratio is None
    assert later.user_concurrency == 5
    assert later.image_size == "2K"  # untouched values stay


async def test_settings_persist_across_reopen(open_db: OpenDB) -> None:
    store = await open_db()
    await store.update_settings(
        9,
        history_turns=12,
        allowed_channels=(111, 222),
        gateway_base_url="https://gw.example/v1",
        gateway_key_encrypted=b"\x00ciphertext\xff",
        user_daily=50,
    )
    await store.update_settings(10, image_size="4K")
    await store.close()

    store = await open_db()
    got = await store.get_settings(9)
    assert got.history_turns == 12
    assert got.allowed_channels == (111, 222)
    assert got.gateway_key_encrypted == b"\x00ciphertext\xff"
    assert got.has_own_gateway
    assert got.user_daily == 50
    assert (await store.get_settings(10)).image_size == "4K"
    cleared = await store.update_settings(9, gateway_key_encrypted=None)
    assert cleared.gateway_key_encrypted is None and not cleared.has_own_gateway
    assert (await store.get_settings(9)).history_turns == 12
