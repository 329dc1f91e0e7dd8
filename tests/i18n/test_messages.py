"""bot.i18n against a small catalog compiled for the test: what a member reads, per locale."""

from __future__ import annotations

import asyncio
from pathlib import Path

import discord
import pytest

from bot.i18n import (
    Joined,
    Text,
    _,
    current_locale,
    join,
    map_words,
    n_,
    p_,
    render,
    speaking,
    supported,
    use_locale,
)
from tests.i18n.catalogs import write_catalog

READY = "Your image is ready in {seconds} s."
IMAGES = ("{n} image", "{n} images")


@pytest.fixture
def catalogs(test_catalogs: Path) -> Path:
    write_catalog(
        test_catalogs,
        "ru",
        [
            (READY, "Ваше изображение готово за {seconds} с.", None),
            (IMAGES, ("{n} изображение", "{n} изображения", "{n} изображений"), None),
            ("Edit", "Изменить", "button"),
            ("Made by {who}", "Автор: {who}", None),
            ("the gateway", "шлюз", None),
            ("Try again.", "Попробуйте ещё раз.", None),
        ],
    )
    write_catalog(test_catalogs, "ja", [(READY, "{seconds} 秒で画像ができました。", None)])
    write_catalog(test_catalogs, "es_ES", [(READY, "Tu imagen está lista en {seconds} s.", None)])
    return test_catalogs


@pytest.mark.usefixtures("catalogs")
def test_render_fills_placeholders_in_the_locale_asked() -> None:
    text = _(READY, seconds=12)
    assert render(text, "ru") == "Ваше изображение готово за 12 с."
    assert render(text, "ja") == "12 秒で画像ができました。"
    assert render(text) == "Your image is ready in 12 s."
    with speaking("ru"):
        assert str(text) == "Ваше изображение готово за 12 с."


@pytest.mark.usefixtures("catalogs")
def test_untranslated_and_unknown_languages_read_english() -> None:
    assert render(_("Not in the catalog {x}", x=1), "ru") == "Not in the catalog 1"
    assert render(_(READY, seconds=3), "nl") == "Your image is ready in 3 s."
    assert render(_(READY, seconds=3), "ko") == "Your image is ready in 3 s."


@pytest.mark.usefixtures("catalogs")
def test_plural_forms_follow_the_language() -> None:
    got = [render(n_(*IMAGES, n), "ru") for n in (1, 3, 5, 21, 0)]
    assert got == [
        "1 изображение",
        "3 изображения",
        "5 изображений",
        "21 изображение",
        "0 изображений",
    ]
    assert [render(n_(*IMAGES, n)) for n in (1, 2)] == ["1 image", "2 images"]


@pytest.mark.usefixtures("catalogs")
def test_a_context_tells_a_word_from_the_same_word() -> None:
    assert render(p_("button", "Edit"), "ru") == "Изменить"
    assert render(_("Edit"), "ru") == "Edit"
    assert render(p_("command", "Edit"), "ru") == "Edit"


@pytest.mark.usefixtures("catalogs")
def test_a_text_parameter_is_rendered_in_the_same_locale_and_a_str_is_not() -> None:
    assert render(_("Made by {who}", who=_("the gateway")), "ru") == "Автор: шлюз"
    assert render(_("Made by {who}", who="the gateway"), "ru") == "Автор: the gateway"
    assert render("the gateway", "ru") == "the gateway"
    assert render(None) == ""
    assert render(42) == "42"


@pytest.mark.usefixtures("catalogs")
def test_joined_renders_each_part_and_leaves_out_empty_ones() -> None:
    joined = join([_(READY, seconds=1), None, "", _("Try again.")])
    assert isinstance(joined, Joined)
    assert render(joined, "ru") == "Ваше изображение готово за 1 с. Попробуйте ещё раз."
    lines = join(["a", _("Try again.")], sep="\n")
    assert render(lines) == "a\nTry again."


def test_map_words_changes_plain_words_and_parameters_not_message_ids() -> None:
    secret = "sk-secret"
    message = join([_("Made by {who}", who=f"key {secret}"), f"tail {secret}", _("Try again.")])
    scrubbed = map_words(message, lambda words: words.replace(secret, "***"))
    assert render(scrubbed) == "Made by key *** tail *** Try again."
    nested = map_words(_("Made by {who}", who=_("Made by {who}", who=secret)), str.upper)
    assert isinstance(nested, Text) and render(nested) == "Made by Made by SK-SECRET"
    assert map_words(n_(*IMAGES, 2), str.upper) == n_(*IMAGES, 2)


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("zh-CN", "zh-CN"),
        ("zh_CN.UTF-8", "zh-CN"),
        (discord.Locale.chinese, "zh-CN"),
        (discord.Locale.taiwan_chinese, "zh-TW"),
        (discord.Locale.spain_spanish, "es-ES"),
        (discord.Locale.latin_american_spanish, "es-ES"),
        ("es-419", "es-ES"),
        ("pt_PT", "pt-BR"),
        ("zh-HK", "zh-TW"),
        ("ja_JP.UTF-8", "ja"),
        ("de_DE@euro", "de"),
        ("KO", "ko"),
        (discord.Locale.american_english, "en-US"),
        (discord.Locale.british_english, "en-US"),
        ("nl", "en-US"),
        ("C", "en-US"),
        ("POSIX", "en-US"),
        ("", "en-US"),
        (None, "en-US"),
    ],
)
def test_supported_finds_the_nearest_shipped_language(given: object, code: str) -> None:
    assert supported(given) == code


@pytest.mark.usefixtures("catalogs")
async def test_each_task_speaks_its_own_locale() -> None:
    both = asyncio.Event()
    waiting = 0

    async def member(locale: str) -> str:
        nonlocal waiting
        use_locale(locale)
        waiting += 1
        if waiting == 3:
            both.set()
        await both.wait()  # every task has set its locale before any renders
        return str(_(READY, seconds=5))

    got = await asyncio.gather(member("ru"), member("es-419"), member("nl"))
    assert got == [
        "Ваше изображение готово за 5 с.",
        "Tu imagen está lista en 5 s.",
        "Your image is ready in 5 s.",
    ]
    assert current_locale() == "en-US"  # the tasks' locales stayed theirs


@pytest.mark.usefixtures("catalogs")
async def test_a_task_started_inherits_the_locale_and_speaking_restores_it() -> None:
    with speaking("ja") as code:
        assert code == "ja"
        inherited = await asyncio.create_task(asyncio.to_thread(lambda: current_locale()))
        child = await asyncio.create_task(_render_later())
        with speaking("ru"):
            assert current_locale() == "ru"
        assert current_locale() == "ja"
    assert (inherited, child) == ("ja", "5 秒で画像ができました。")
    assert current_locale() == "en-US"


async def _render_later() -> str:
    await asyncio.sleep(0)
    return render(_(READY, seconds=5))
