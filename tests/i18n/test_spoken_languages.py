"""Through the fake Discord: a member is answered in their client's language, end to end.

What crossed the wire (the progress edits, the result, an error, ``/settings show``) is
compared with the shipped catalog: the expected words are the code's own messages rendered
in the member's locale, and they must differ from the English, so a missing or untranslated
catalog fails here (``catalogs`` tests fail, never skip). A locale we have no catalog for
reads English.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from bot.discord_bot.components import PICK_REGION
from bot.discord_bot.errors import BOT_GATEWAY_ADVICE
from bot.discord_bot.pipeline import GENERATING, describe
from bot.errors import GatewayAuthError
from bot.i18n import DEFAULT_LOCALE, Message, _, p_, render
from bot.images.regions import REGIONS, region_label
from cogs.settings.render import privacy_text
from tests.fakes.discord import InteractionState
from tests.fakes.gateway import Reply, images_response, openai_error, png_bytes
from tests.harness import BotHarness

pytestmark = pytest.mark.catalogs
LOCALES = ["zh-CN", "ja", "pt-BR"]
UNKNOWN = ["nl", "sv-SE"]  # Discord locales we ship no catalog for
IMAGE = png_bytes(32, 32, (0, 90, 200))
# The /settings show field titles, as cogs/settings/render.py marks them.
FIELDS = (
    "Model",
    "Aspect ratio",
    "Size",
    "History",
    "Privacy",
    "Reference images",
    "Gateway",
    "Channels",
    "Limits and quotas",
)


def said(message: Message, code: str) -> str:
    """``message`` in ``code``, which must not be the English (else the catalog lacks it)."""
    words = render(message, code)
    if code in LOCALES:
        english = render(message, DEFAULT_LOCALE)
        assert words != english, f"{code} does not translate {english!r}"
    return words


def _content(request: Any) -> str:
    return ((request.json if isinstance(request.json, dict) else None) or {}).get("content") or ""


async def _progress_line(h: BotHarness, it: InteractionState) -> str:
    """The first line of the first progress edit of ``it``'s original response."""
    tick = await h.fake.wait_for(
        lambda r: r.method == "PATCH" and it.token in r.path and bool(_content(r))
    )
    return _content(tick).split("\n")[0]


@pytest.mark.parametrize("code", LOCALES + UNKNOWN)
async def test_progress_and_result_are_in_the_members_language(
    running_bot: BotHarness, code: str
) -> None:
    h = running_bot
    answer = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=answer))
    it = await h.fake.slash("imagine", {"prompt": "a kite"}, locale=code)

    line = await _progress_line(h, it)
    # The elapsed seconds are whatever the clock said; the sentence around them is the catalog's.
    shown = {said(_("{label} {seconds} s", label=GENERATING, seconds=s), code) for s in range(600)}
    assert line in shown, line
    assert said(GENERATING, code) in line

    answer.set()
    st = await h.result(it)
    first = st.original.content.split("\n")[0]
    assert first == said(describe("imagine", "a kite", None), code)
    assert st.original.files[0][1] == IMAGE


@pytest.mark.parametrize("code", LOCALES + UNKNOWN)
async def test_a_gateway_refusal_is_explained_in_the_members_language(
    running_bot: BotHarness, code: str
) -> None:
    h = running_bot
    h.gw.script(Reply(status=401, body=openai_error("Invalid API key", code=401)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, locale=code))
    # The gateway's own words are quoted as it wrote them; the bot's own gateway: only its
    # owner can fix the key.
    expected = " ".join(
        [
            said(GatewayAuthError.default_message, code),
            said(_("The service said: {words}", words="Invalid API key."), code),
            said(BOT_GATEWAY_ADVICE[GatewayAuthError], code),
        ]
    )
    assert st.last_message.content == expected
    assert "Invalid API key." in st.last_message.content  # the gateway's words, as written


@pytest.mark.parametrize("code", LOCALES + UNKNOWN)
async def test_settings_show_is_in_the_admins_language(running_bot: BotHarness, code: str) -> None:
    h = running_bot
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    st = await h.fake.interaction_result(
        await h.fake.slash("settings show", {}, member=admin, locale=code)
    )
    if st.last_message is not None:
        embed = st.last_message.embeds[0]
    else:
        assert st.callback is not None
        embed = st.callback.json["data"]["embeds"][0]
    assert embed["title"] == said(_("Image bot settings for this server"), code)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert list(fields) == [said(p_("settings field", name), code) for name in FIELDS]
    settings = await h.store.get_settings(h.guild_id)
    privacy = said(p_("settings field", "Privacy"), code)
    assert fields[privacy] == said(privacy_text(settings.privacy), code)


@pytest.mark.parametrize("code", LOCALES + UNKNOWN)
async def test_the_region_picker_names_the_regions_in_the_members_language(
    running_bot: BotHarness, code: str
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])))
    result = (await h.result(await h.fake.slash("imagine", {"prompt": "a harbour"}))).original
    (region_button,) = [i for i in result.custom_ids() if i.startswith("imagine:region:")]
    pressed = await h.fake.click(result, region_button, locale=code)
    await h.fake.wait_for_interaction_reply(pressed)
    picker = pressed.original
    assert picker.content == said(PICK_REGION, code)
    (menu,) = [c for row in picker.components for c in row["components"]]
    assert [o["label"] for o in menu["options"]] == [
        said(region_label(name), code) for name in REGIONS
    ]
