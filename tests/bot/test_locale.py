"""The locale in effect, through the fake Discord: the member's for an interaction's answer,
kept in the job's params, and the job's own for what is said about it after a restart.

The catalogs are English until the translations arrive, so these assert the plumbing
(the locale each answer is rendered in, what the job row keeps), not translated words.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

import bot.discord_bot.app as app_module
import bot.discord_bot.pipeline as pipeline_module
import bot.discord_bot.removal as removal_module
from bot.discord_bot.pipeline import describe
from bot.i18n import current_locale, render
from tests.bot.helpers import button
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(32, 32, (0, 90, 200))
AGAIN = png_bytes(32, 32, (200, 90, 0))


def spoken(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[tuple[str, str]]:
    """(locale in effect, words) for each message ``module`` renders for discord.py."""
    heard: list[tuple[str, str]] = []

    def rendering(message: Any, locale: object = None) -> str:
        words = render(message, locale)
        heard.append((current_locale() if locale is None else str(locale), words))
        return words

    monkeypatch.setattr(module, "render", rendering)
    return heard


def _job_id(message: Any) -> int:
    reroll = next(i for i in message.custom_ids() if i.startswith("imagine:reroll:"))
    return int(reroll.rsplit(":", 1)[1])


async def test_a_job_keeps_the_locale_of_the_member_who_asked(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    heard = spoken(monkeypatch, pipeline_module)
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}, locale="zh-CN"))

    job = await h.store.get_job(_job_id(st.original))
    assert job is not None and job.params["locale"] == "zh-CN"
    # The result's first line was rendered in the member's language, for that interaction.
    first_line = render(describe("imagine", "a kite", None), "zh-CN")
    assert ("zh-CN", first_line) in heard
    assert st.original.content.startswith(first_line)


async def test_an_unknown_locale_is_kept_as_english(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}, locale="nl"))
    job = await h.store.get_job(_job_id(st.original))
    assert job is not None and job.params["locale"] == "en-US"


async def test_a_button_press_is_answered_in_the_presser_s_locale(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])), Reply(body=images_response([AGAIN])))
    asker = await h.fake.member(name="asker")
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a kite"}, member=asker, locale="zh-CN")
    )
    result = st.original

    # Another member's Reroll: their job, in their language.
    rerolled = await h.result(await h.fake.click(result, button(result, "reroll"), locale="ja"))
    job = await h.store.get_job(_job_id(rerolled.original))
    assert job is not None and job.kind == "reroll" and job.params["locale"] == "ja"

    # A refusal is rendered in the presser's locale, whoever made the result.
    refusals = spoken(monkeypatch, removal_module)
    pressed = await h.fake.click(result, button(result, "delete"), locale="pt-BR")
    await h.fake.wait_for_interaction_reply(pressed)
    assert pressed.original.ephemeral
    assert refusals == [("pt-BR", pressed.original.content)]


async def test_an_interrupted_job_is_reported_in_the_locale_it_was_asked_in(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    member = await h.fake.member(name="unlucky")
    job = await h.store.create_job(
        kind="imagine",
        guild_id=h.guild_id,
        channel_id=int(h.fake.channel["id"]),
        user_id=int(member["user"]["id"]),
        prompt="a lighthouse",
        params={"model": "gemini-3-pro-image-preview", "inputs": [], "locale": "ko"},
    )
    await h.store.update_job(job.id, state="running")
    heard = spoken(monkeypatch, app_module)

    await h.restart()
    notice = await h.channel_post()
    assert ("ko", notice.content) in heard
    # The words the report has in Korean: the catalog's, with the member and the prompt.
    english = render(app_module._interrupted(job), "en-US")
    assert english.startswith(f"<@{member['user']['id']}> Your image request")
    assert notice.content == render(app_module._interrupted(job), "ko") != english
