"""Through the fake Discord: buttons, selects, forms and refusals speak the member's language.

As in ``test_spoken_languages``: the expected words are the code's own messages rendered in
the member's locale, and they must differ from the English (a missing translation fails).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.discord_bot.access import NOT_ADMIN
from bot.discord_bot.components import (
    INSTRUCTION_EXAMPLE,
    INSTRUCTION_LABEL,
    MODAL_TITLE,
    REGION_EXAMPLE,
    editing_label,
)
from bot.discord_bot.errors import error_message
from bot.discord_bot.pipeline import describe
from bot.errors import AccessDenied, QuotaReached
from bot.i18n import DEFAULT_LOCALE, Message, _, render
from bot.images.regions import region_in_sentence
from bot.jobs.runner import QUOTAS
from bot.storage.base import MemberPreferences
from cogs.member.render import me_text
from tests.bot.helpers import button
from tests.fakes.discord import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

pytestmark = pytest.mark.catalogs
# What a member without Manage Server reads, with the next step the error boundary adds.
REFUSED = error_message(AccessDenied(NOT_ADMIN))
IMAGE = png_bytes(48, 32, (0, 90, 200))


def said(message: Message, code: str) -> str:
    """``message`` in ``code``, which must not be the English (else the catalog lacks it)."""
    words = render(message, code)
    english = render(message, DEFAULT_LOCALE)
    assert words != english, f"{code} does not translate {english!r}"
    return words


def _content(request: Any) -> str:
    return ((request.json if isinstance(request.json, dict) else None) or {}).get("content") or ""


def _text_input(modal: dict[str, Any]) -> dict[str, Any]:
    (field,) = [
        c for row in modal["components"] for c in row.get("components", []) if c["type"] == 4
    ]
    return field


async def _progress_line(h: BotHarness, it: InteractionState) -> str:
    """The first line of the first progress edit of ``it``'s original response."""
    tick = await h.fake.wait_for(
        lambda r: r.method == "PATCH" and it.token in r.path and bool(_content(r))
    )
    return _content(tick).split("\n")[0]


async def _pressed(h: BotHarness, action: str, locale: str = "en-US") -> InteractionState:
    """A result's ``action`` button pressed from a ``locale`` client, once it is answered."""
    h.gw.script(Reply(body=images_response([IMAGE])))
    result = (await h.result(await h.fake.slash("imagine", {"prompt": "a harbour"}))).original
    pressed = await h.fake.click(result, button(result, action), locale=locale)
    await h.fake.wait_for_interaction_reply(pressed)
    return pressed


async def _submitted(
    h: BotHarness, form: InteractionState, words: str, label: Message, code: str
) -> str:
    """Submit ``words`` in ``form`` from a ``code`` client; its job's progress line must be
    ``label`` and the seconds in ``code``. The first line of its result."""
    answer = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=answer))
    field = _text_input(form.modal or {})
    submitted = await h.fake.submit_modal(form, {field["custom_id"]: words}, locale=code)
    line = await _progress_line(h, submitted)
    shown = {said(_("{label} {seconds} s", label=label, seconds=s), code) for s in range(600)}
    assert line in shown, line
    answer.set()
    return (await h.result(submitted)).original.content.split("\n")[0]


async def test_edit_region_asks_and_answers_in_the_members_language(
    running_bot: BotHarness,
) -> None:
    code = "ja"
    h = running_bot
    pressed = await _pressed(h, "region", code)
    (menu_id,) = pressed.original.custom_ids()

    picked = await h.fake.select(pressed.original, menu_id, ["top-right"], locale=code)
    await h.fake.wait_for_interaction_reply(picked)
    assert picked.callback_type == 9 and picked.modal is not None
    title = _("Edit the {region}", region=region_in_sentence("top-right"))
    assert picked.modal["title"] == said(title, code)[:45]
    field = _text_input(picked.modal)
    assert field["label"] == said(INSTRUCTION_LABEL, code)
    assert field["placeholder"] == said(REGION_EXAMPLE, code)

    first = await _submitted(h, picked, "add a kite", editing_label("top-right"), code)
    assert first == said(describe("region", "add a kite", None, "top-right"), code)


async def test_a_form_is_answered_in_the_language_of_who_submits_it(
    running_bot: BotHarness,
) -> None:
    """Opened from an English client, submitted from a Japanese one: the answer is Japanese."""
    code = "ja"
    h = running_bot
    opened = await _pressed(h, "edit")
    assert opened.modal is not None and opened.modal["title"] == render(MODAL_TITLE)
    assert _text_input(opened.modal)["placeholder"] == render(INSTRUCTION_EXAMPLE)
    first = await _submitted(h, opened, "make it snow", editing_label(None), code)
    assert first == said(describe("edit", "make it snow", None), code)


@pytest.mark.parametrize("command", ["settings show", "settings limits"])
async def test_a_non_admin_is_refused_in_their_language(
    running_bot: BotHarness, command: str
) -> None:
    code = "zh-CN"
    h = running_bot
    member = await h.fake.member(name="curious")
    st = await h.fake.interaction_result(
        await h.fake.slash(command, {}, member=member, locale=code)
    )
    assert st.original is not None and st.original.ephemeral
    assert st.original.content == said(REFUSED, code)


async def test_a_member_over_their_daily_quota_reads_it_in_their_language(
    running_bot: BotHarness,
) -> None:
    code = "pt-BR"
    h = running_bot
    await h.store.update_settings(h.guild_id, user_daily=1)
    member = await h.fake.member(name="eager")
    h.gw.script(Reply(body=images_response([IMAGE])))
    await h.result(await h.fake.slash("imagine", {"prompt": "a"}, member=member, locale=code))
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "b"}, member=member, locale=code)
    )
    (refusal,) = [words(1) for name, _user, _window, words in QUOTAS if name == "user_daily"]
    assert st.original.ephemeral and st.original.content == said(
        error_message(QuotaReached(refusal)), code
    )
    assert len(h.gw.requests) == 1


async def test_me_answers_in_the_members_language(running_bot: BotHarness) -> None:
    code = "ja"
    h = running_bot
    member = await h.fake.member(name="me")
    st = await h.fake.interaction_result(await h.fake.slash("me", member=member, locale=code))
    assert st.callback_type == 4 and st.original.ephemeral
    expected = me_text(
        today=None,
        week=None,
        quotas=[],
        jobs=[],
        at_once=(await h.store.get_settings(h.guild_id)).user_concurrency,
        prefs=MemberPreferences(user_id=int(member["user"]["id"])),
    )
    assert st.original.content == said(expected, code)


async def test_latin_american_spanish_reads_spains(running_bot: BotHarness) -> None:
    """Discord's "es-419" has no catalog of its own: the es-ES one answers."""
    h = running_bot
    member = await h.fake.member(name="porteño")
    st = await h.fake.interaction_result(
        await h.fake.slash("settings show", {}, member=member, locale="es-419")
    )
    assert st.original.content == said(REFUSED, "es-ES")
