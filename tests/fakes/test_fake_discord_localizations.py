"""The fake Discord takes command localizations as Discord does: kept, or the sync refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest

from bot.i18n.discord_rules import DISCORD_LOCALES
from tests.fakes.discord import FakeDiscord

Payload = dict[str, Any]


@pytest.fixture
async def http(fake_discord: FakeDiscord) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake_discord.api_base + "/") as session:
        yield session


def _command(**extra: Any) -> Payload:
    return {
        "name": "imagine",
        "description": "Generate an image",
        "options": [
            {
                "name": "ratio",
                "description": "Aspect ratio",
                "type": 3,
                "choices": [{"name": "square", "value": "1:1"}],
            }
        ],
        **extra,
    }


async def _put(fake: FakeDiscord, http: aiohttp.ClientSession, body: Any) -> tuple[int, Any]:
    url = f"applications/{fake.application_id}/commands"
    async with http.put(url, json=body, headers={"Authorization": f"Bot {fake.token}"}) as resp:
        return resp.status, await resp.json()


def test_discord_locales_are_discord_pys() -> None:
    assert {locale.value for locale in discord.Locale} == DISCORD_LOCALES


async def test_localizations_are_kept_on_commands_options_and_choices(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    cmd = _command(
        name_localizations={"zh-CN": "画图", "ja": "画像生成", "hi": "चित्र_बनाओ"},
        description_localizations={"zh-CN": "生成一张图片"},
    )
    cmd["options"][0]["name_localizations"] = {"th": "อัตราส่วน", "ru": "пропорции"}
    cmd["options"][0]["description_localizations"] = {"de": "Seitenverhältnis"}
    cmd["options"][0]["choices"][0]["name_localizations"] = {"fr": "Carré (1:1)"}
    menu = {"name": "Edit image", "type": 3, "name_localizations": {"de": "Bild bearbeiten"}}
    status, body = await _put(fake_discord, http, [cmd, menu])
    assert status == 200, body
    synced = {c["name"]: c for c in fake_discord.global_commands}
    assert synced["imagine"]["name_localizations"]["hi"] == "चित्र_बनाओ"
    assert synced["imagine"]["description_localizations"] == {"zh-CN": "生成一张图片"}
    option = synced["imagine"]["options"][0]
    assert option["name_localizations"] == {"th": "อัตราส่วน", "ru": "пропорции"}
    assert option["choices"][0]["name_localizations"] == {"fr": "Carré (1:1)"}
    assert synced["Edit image"]["name_localizations"] == {"de": "Bild bearbeiten"}


def _option_with(key: str, value: Payload) -> Payload:
    cmd = _command()
    cmd["options"][0][key] = value
    return cmd


def _choice_with(value: Payload) -> Payload:
    cmd = _command()
    cmd["options"][0]["choices"][0]["name_localizations"] = value
    return cmd


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_command(name_localizations={"pt": "imaginar"}), ["0", "name_localizations", "pt"]),
        (_command(name_localizations={"de": "Bild"}), ["0", "name_localizations", "de"]),
        (_command(name_localizations={"fr": "une image"}), ["0", "name_localizations", "fr"]),
        (_command(name_localizations={"ru": "Рисовать"}), ["0", "name_localizations", "ru"]),
        (_command(name_localizations={"es-ES": "x" * 33}), ["0", "name_localizations", "es-ES"]),
        (_command(name_localizations={"ja": ""}), ["0", "name_localizations", "ja"]),
        (
            _command(description_localizations={"ko": "가" * 101}),
            ["0", "description_localizations", "ko"],
        ),
        (
            _option_with("name_localizations", {"tr": "En Boy"}),
            ["0", "options", "0", "name_localizations", "tr"],
        ),
        (
            _option_with("description_localizations", {"xx": "d"}),
            ["0", "options", "0", "description_localizations", "xx"],
        ),
        (
            _choice_with({"vi": "v" * 101}),
            ["0", "options", "0", "choices", "0", "name_localizations", "vi"],
        ),
        (
            [{"name": "Edit image", "type": 3, "name_localizations": {"de": "b" * 33}}],
            ["0", "name_localizations", "de"],
        ),
    ],
)
async def test_a_bad_localization_refuses_the_whole_sync(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, body: Any, field: list[str]
) -> None:
    commands = body if isinstance(body, list) else [body]
    status, answer = await _put(fake_discord, http, [_command(name="reset"), *commands])
    assert (status, answer["code"]) == (400, 50035), answer
    errors = answer["errors"]
    # The other command came first: the error is filed under the offending one's index.
    errors = errors[str(int(field[0]) + 1)]
    for part in field[1:]:
        errors = errors[part]
    assert errors["_errors"][0]["code"], answer
    assert fake_discord.global_commands == []
