"""Discord's rules for names and descriptions, and the translator that keeps to them."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import discord
import pytest
from discord import app_commands

from bot.discord_bot.sync import command_hash
from bot.discord_bot.translator import CatalogTranslator, named
from bot.i18n import catalogs as shipped
from bot.i18n.discord_rules import valid_command_name, valid_description
from tests.i18n.catalogs import write_catalog


@pytest.mark.parametrize(
    "name",
    ["imagine", "aspect_ratio", "o'clock", "x-y", "画图", "画像生成", "이미지", "изображение",
     "görsel", "ảnh", "चित्र_बनाओ", "อัตราส่วน", "a" * 32, "4k"],
)  # fmt: skip
def test_names_discord_accepts(name: str) -> None:
    assert valid_command_name(name)


@pytest.mark.parametrize(
    "name",
    ["", "Imagine", "aspect ratio", "a" * 33, "Изображение", "Görsel", "edit!", "a.b", "x/y",
     "emoji🎨", "tab\t"],
)  # fmt: skip
def test_names_discord_refuses(name: str) -> None:
    assert not valid_command_name(name)


def test_descriptions_are_one_to_a_hundred_characters() -> None:
    assert valid_description("画" * 100) and valid_description("x")
    assert not valid_description("") and not valid_description("x" * 101)


def _tree() -> app_commands.CommandTree[Any]:
    client = discord.Client(intents=discord.Intents.none())
    tree: app_commands.CommandTree[Any] = app_commands.CommandTree(client)
    square = app_commands.Choice(name=app_commands.locale_str("Square"), value="1:1")

    @tree.command(
        name=named("command", "imagine"), description=app_commands.locale_str("Generate an image")
    )
    @app_commands.rename(prompt=named("option", "prompt"))
    @app_commands.describe(prompt="What to draw", ratio="Aspect ratio")
    @app_commands.choices(ratio=[square])
    async def imagine(interaction: discord.Interaction, prompt: str, ratio: str) -> None:
        """Placeholder callback."""

    async def edit_image(interaction: discord.Interaction, message: discord.Message) -> None:
        """Placeholder callback."""

    menu = app_commands.ContextMenu(name=named("menu", "Edit image"), callback=edit_image)
    tree.add_command(menu)
    return tree


@pytest.fixture
def catalogs(test_catalogs: Path) -> Path:
    write_catalog(
        test_catalogs,
        "ja",
        [
            ("imagine", "画像生成", "command"),
            ("prompt", "プロンプト", "option"),
            ("Generate an image", "画像を生成します", None),
            ("Square", "正方形", None),
            ("Edit image", "画像を編集", "menu"),
        ],
    )
    write_catalog(
        test_catalogs,
        "es_ES",
        [("imagine", "imaginar", "command"), ("Generate an image", "Genera una imagen", None)],
    )
    write_catalog(
        test_catalogs,
        "de",
        [
            ("imagine", "Bild Erzeugen", "command"),  # capitals and a space: refused
            ("prompt", "beschreibung", "option"),
            ("Generate an image", "x" * 101, None),  # too long: refused
            ("Edit image", "Bild bearbeiten", "menu"),  # a context menu may: kept
        ],
    )
    return test_catalogs


async def _payload(tree: app_commands.CommandTree[Any], name: str) -> dict[str, Any]:
    translator = tree.translator
    assert translator is not None
    for command in tree.get_commands():
        if command.name == name:
            return await command.get_translated_payload(tree, translator)
    raise AssertionError(name)


@pytest.mark.usefixtures("catalogs")
async def test_the_payload_carries_the_catalogs_words() -> None:
    tree = _tree()
    await tree.set_translator(CatalogTranslator())
    imagine = await _payload(tree, "imagine")
    assert imagine["name"] == "imagine"
    names = imagine["name_localizations"]
    # es-419 reads Spain's Spanish; English and languages not shipped are not sent.
    assert names == {"ja": "画像生成", "es-ES": "imaginar", "es-419": "imaginar"}
    assert imagine["description_localizations"] == {
        "ja": "画像を生成します",
        "es-ES": "Genera una imagen",
        "es-419": "Genera una imagen",
    }
    prompt, ratio = imagine["options"]
    assert prompt["name"] == "prompt"
    assert prompt["name_localizations"] == {"ja": "プロンプト", "de": "beschreibung"}
    assert ratio["choices"][0]["name_localizations"] == {"ja": "正方形"}
    menu = await _payload(tree, "Edit image")
    assert menu["name_localizations"] == {"ja": "画像を編集", "de": "Bild bearbeiten"}


@pytest.mark.usefixtures("catalogs")
async def test_a_translation_discord_refuses_is_left_out_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tree = _tree()
    await tree.set_translator(CatalogTranslator())
    with caplog.at_level(logging.WARNING, logger="bot.discord_bot.translator"):
        for _ in range(2):  # the hash and the sync both translate: still one line per name
            imagine = await _payload(tree, "imagine")
    assert "de" not in imagine["name_localizations"]
    assert "de" not in imagine["description_localizations"]
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.discord_bot.translator"]
    assert lines == [
        "the de translation of 'imagine' is 'Bild Erzeugen', which Discord refuses (a name "
        "must be 1-32 lower-case letters, digits, - _ ' and no spaces): it shows in English "
        "until bot/locales/de/LC_MESSAGES/messages.po is fixed and compiled",
        f"the de translation of 'Generate an image' is '{'x' * 101}', which Discord refuses "
        "(it must be 1-100 characters): it shows in English until "
        "bot/locales/de/LC_MESSAGES/messages.po is fixed and compiled",
    ]


async def test_a_changed_translation_changes_the_sync_hash(
    test_catalogs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = _tree()
    await tree.set_translator(CatalogTranslator())
    write_catalog(test_catalogs / "old", "ja", [("imagine", "画像生成", "command")])
    write_catalog(test_catalogs / "new", "ja", [("imagine", "画像を生成", "command")])
    monkeypatch.setattr(shipped, "LOCALES_DIR", test_catalogs / "old")
    before = await command_hash(tree, None)
    assert await command_hash(tree, None) == before
    # gettext keeps a .mo it read by path: the updated catalog is another folder here.
    monkeypatch.setattr(shipped, "LOCALES_DIR", test_catalogs / "new")
    shipped.translations.cache_clear()
    assert await command_hash(tree, None) != before
