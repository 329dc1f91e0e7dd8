"""Private results (``private:True``), end to end: the ephemeral flag (64) on the wire.

What a private answer may never do is reach the channel: not as the result, not as the
expired-token fallback, not through another member's /edit, not in a restart's notice.
"""

from __future__ import annotations

import asyncio
from typing import Any

import discord
import pytest

from bot.discord_bot.components import NOT_YOUR_PRIVATE
from bot.discord_bot.delivery import PRIVATE_UNDELIVERED
from bot.i18n import render
from bot.jobs.privacy import FORCED_PUBLIC
from bot.storage.errors import InvalidSetting
from cogs.edit import REPLY_PRIVATE
from tests.bot.helpers import button, modal_field
from tests.bot.test_queue import _sent
from tests.fakes.discord import InteractionState, StoredMessage
from tests.fakes.gateway import Reply, images_response, openai_error, png_bytes
from tests.harness import BotHarness

CAT = png_bytes(30, 30, (250, 200, 0))
SECRET = png_bytes(30, 30, (0, 0, 250))
THIRD = png_bytes(30, 30, (250, 0, 0))
FOURTH = png_bytes(30, 30, (0, 250, 0))
FIFTH = png_bytes(30, 30, (0, 250, 250))
SIXTH = png_bytes(30, 30, (250, 0, 250))
ADMIN = discord.Permissions(manage_guild=True)
EPHEMERAL = 64


def deferral_flags(st: InteractionState) -> int:
    """The flags the bot sent with its "thinking" deferral (type 5)."""
    assert st.callback is not None and st.callback_type == 5
    return int((st.callback.json.get("data") or {}).get("flags", 0))


def public_messages(h: BotHarness) -> list[StoredMessage]:
    """What everyone in the server's channels can read."""
    channels = {c["id"] for g in h.fake.guilds for c in g["channels"]}
    return [
        m
        for m in h.fake.messages.values()
        if m.payload["channel_id"] in channels and not m.ephemeral
    ]


def private_result(st: InteractionState, data: bytes) -> StoredMessage:
    """The interaction's result: ephemeral from its deferral on, carrying ``data``."""
    assert deferral_flags(st) == EPHEMERAL
    assert st.original is not None and st.original.ephemeral
    assert st.original.files[0][1] == data
    return st.original


async def test_a_private_imagine_and_everything_its_buttons_make_stay_the_members(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="shy")
    other = await h.fake.member(name="curious")
    h.gw.script(*(Reply(body=images_response([img])) for img in (CAT, SECRET, THIRD, FOURTH)))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a secret cat", "private": True}, member=me)
    )
    result = private_result(st, CAT)
    assert (await h.store.get_job(1)).params["private"] is True
    with pytest.raises(ValueError, match="ephemeral"):  # others do not even see the buttons
        await h.fake.click(result, button(result, "delete"), member=other)

    varied = await h.result(await h.fake.click(result, "imagine:vary_subtle:1:1", member=me))
    private_result(varied, SECRET)
    rerolled = await h.result(
        await h.fake.click(varied.original, button(varied.original, "reroll"), member=me)
    )
    private_result(rerolled, THIRD)
    # A reroll of a vary of a private job: private all the way down, in the stored rows too.
    assert [(await h.store.get_job(n)).params.get("private") for n in (2, 3)] == [True, True]

    upscale = button(rerolled.original, "up2k")
    upscaled = await h.result(await h.fake.click(rerolled.original, upscale, member=me))
    private_result(upscaled, FOURTH)

    h.gw.script(Reply(body=images_response([FIFTH])))
    opened = await h.fake.click(upscaled.original, button(upscaled.original, "edit"), member=me)
    field = await modal_field(h, opened)
    edited = await h.result(await h.fake.submit_modal(opened, {field: "add a hat"}, member=me))
    private_result(edited, FIFTH)

    assert not [m for m in public_messages(h) if m.attachments]  # nothing reached the channel
    assert not any("secret cat" in m.content for m in public_messages(h))

    pressed = await h.fake.click(edited.original, button(edited.original, "delete"), member=me)
    await h.fake.wait_until(lambda: pressed.followups, what="the Delete answer")
    assert edited.original.id not in h.fake.messages
    assert (await h.store.get_job(5)).result == {"deleted": True}


async def test_another_members_edit_never_touches_a_private_image(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    ann, ben = await h.fake.member(name="ann"), await h.fake.member(name="ben")
    h.gw.script(*(Reply(body=images_response([img])) for img in (CAT, SECRET, THIRD, FOURTH)))
    await h.result(await h.fake.slash("imagine", {"prompt": "a public cat"}, member=ann))
    secret = await h.result(
        await h.fake.slash("imagine", {"prompt": "a hidden dog", "private": True}, member=ben)
    )
    private_result(secret, SECRET)

    # The private /imagine neither replaced the channel's chain nor joined it.
    await h.result(await h.fake.slash("edit", {"prompt": "make it red"}, member=ann))
    assert h.gw.requests[2].images == [CAT]
    assert "hidden dog" not in str(h.gw.requests[2].json)
    # Ben's own private /edit without an image edits what everyone sees, privately.
    mine = await h.result(
        await h.fake.slash("edit", {"prompt": "make it green", "private": True}, member=ben)
    )
    private_result(mine, FOURTH)
    assert h.gw.requests[3].images == [THIRD]
    (turn,) = await h.store.recent_turns(int(h.fake.channel["id"]), 1)
    assert turn.job_id == 3  # ann's edit is still the channel's latest


async def test_the_server_forces_private_or_public_over_the_option_and_the_preference(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    admin = await h.fake.member(ADMIN, name="admin")
    me = await h.fake.member(name="member")
    h.gw.script(*(Reply(body=images_response([img])) for img in (CAT, SECRET, THIRD)))

    async def privacy(mode: str) -> str:
        st = await h.fake.interaction_result(
            await h.fake.slash("settings privacy", {"mode": mode}, member=admin)
        )
        assert st.last_message is not None
        return st.last_message.content

    assert await privacy("private") == (
        "Privacy set: always private: every result is seen by the member who asked only."
    )
    forced = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, member=me))
    private_result(forced, CAT)
    assert FORCED_PUBLIC not in forced.original.content  # nobody else sees it: no note

    assert (await privacy("public")).startswith("Privacy set: always public")
    await h.fake.slash("preferences", {"private": True}, member=me)
    asked = await h.result(
        await h.fake.slash("imagine", {"prompt": "a dog", "private": True}, member=me)
    )
    assert deferral_flags(asked) == 0 and not asked.original.ephemeral
    assert asked.original.files[0][1] == SECRET
    assert asked.original.content.endswith(f"-# {FORCED_PUBLIC}")
    assert "private" not in (await h.store.get_job(2)).params

    shown = await h.fake.interaction_result(await h.fake.slash("settings show", member=admin))
    (embed,) = (
        shown.last_message.embeds if shown.last_message else shown.callback.json["data"]["embeds"]
    )
    (value,) = [f["value"] for f in embed["fields"] if f["name"] == "Privacy"]
    assert value.startswith("always public: every result is posted to the channel")

    # Members choose again: the preference alone makes it private.
    assert (await privacy("members")).startswith("Privacy set: members choose")
    chosen = await h.result(await h.fake.slash("imagine", {"prompt": "a bird"}, member=me))
    private_result(chosen, THIRD)


async def test_an_expired_private_answer_goes_to_the_members_dms_never_to_the_channel(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="patient")
    h.gw.script(Reply(body=images_response([SECRET]), delay=1.0))
    it = await h.fake.slash("imagine", {"prompt": "a slow secret", "private": True}, member=me)
    await h.gw.wait_for_requests(1)
    h.fake.expire(it)  # the job outlived the 15-minute token

    await h.fake.wait_until(lambda: h.fake.direct_messages(me), what="a DM")
    (dm,) = h.fake.direct_messages(me)
    assert dm.files[0][1] == SECRET
    assert dm.content.startswith(f"Your private result from <#{h.fake.channel['id']}>")
    assert "a slow secret" in dm.content and dm.custom_ids() == []
    await h.stored()
    assert not [m for m in public_messages(h) if m.attachments or "slow secret" in m.content]


async def test_an_expired_private_answer_with_closed_dms_tells_the_channel_nothing_of_it(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="closed")
    h.fake.dms_closed.add(me["user"]["id"])
    h.gw.script(Reply(body=images_response([SECRET]), delay=1.0))
    it = await h.fake.slash("imagine", {"prompt": "a slow secret", "private": True}, member=me)
    await h.gw.wait_for_requests(1)
    h.fake.expire(it)

    note = await h.channel_post()
    assert note.content == f"<@{me['user']['id']}> {PRIVATE_UNDELIVERED}"
    assert not note.attachments and note.custom_ids() == []
    assert (await h.store.get_job(1)).state == "done"  # made and stored, only not shown
    assert not [m for m in public_messages(h) if m.attachments]


OUT_OF_CREDIT = Reply(status=402, body=openai_error("Insufficient credits", code=402), delay=1.0)


async def _failed_after_expiry(h: BotHarness, me: dict) -> None:
    h.gw.script(OUT_OF_CREDIT)
    it = await h.fake.slash("imagine", {"prompt": "a failing secret", "private": True}, member=me)
    await h.gw.wait_for_requests(1)
    h.fake.expire(it)  # the job outlived the 15-minute token, then failed


async def test_an_expired_private_request_s_error_goes_to_the_members_dms_only(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="unlucky")
    await _failed_after_expiry(h, me)

    await h.fake.wait_until(lambda: h.fake.direct_messages(me), what="a DM")
    (dm,) = h.fake.direct_messages(me)
    channel = f"<#{h.fake.channel['id']}>"
    assert dm.content == (
        f"Your private request in {channel} could not be answered there (Discord keeps the "
        "answer open 15 minutes), so this comes here:\n"
        "The image service account is out of credit. The service said: "
        "Insufficient credits. The bot's owner needs to top it up."
    )
    assert not dm.attachments and dm.custom_ids() == []
    assert not [m for m in public_messages(h) if me["user"]["id"] in m.content]


async def test_an_expired_private_request_s_error_with_closed_dms_is_posted_nowhere(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="closed")
    h.fake.dms_closed.add(me["user"]["id"])
    await _failed_after_expiry(h, me)

    # The refused DM is the last thing the bot tries: once it crossed the wire, nothing
    # more comes, and nothing reached the channel.
    await h.fake.wait_until(
        lambda: h.fake.find(lambda r: r.method == "POST" and r.status == 403),
        what="the refused DM",
    )
    assert not [m for m in public_messages(h) if me["user"]["id"] in m.content]
    assert (await h.store.get_job(1)).state == "failed"


async def test_an_interrupted_private_request_is_reported_without_its_prompt(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="owner")
    other = await h.fake.member(name="other")
    h.gw.script(Reply(body=images_response([CAT]), delay=30))
    await h.fake.slash("imagine", {"prompt": "a hidden lake", "private": True}, member=me)
    await h.gw.wait_for_requests(1)
    await h.restart()

    notice = await h.channel_post()
    assert "hidden lake" not in notice.content and "private image request" in notice.content
    stolen = await h.fake.click(notice, "imagine:rerun:1", member=other)
    await h.fake.wait_for_interaction_reply(stolen)
    answer: Any = stolen.last_message
    assert answer is not None and answer.ephemeral and answer.content == render(NOT_YOUR_PRIVATE)
    assert len(h.gw.requests) == 1  # nothing ran for them


async def test_a_reply_to_edit_in_an_always_private_server_is_refused_with_the_way(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, privacy="private")
    h.gw.script(Reply(body=images_response([CAT])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.original is not None and st.original.ephemeral
    await h.fake.post_message("make it night", images=[("cat.png", CAT)], mention_bot=True)
    reply = await h.channel_post()
    assert reply.content == render(REPLY_PRIVATE)
    assert len(h.gw.requests) == 1


async def test_a_private_blend_is_ephemeral_and_the_setting_takes_only_its_three_modes(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="blender")
    h.gw.script(Reply(body=images_response([SECRET])))
    options = {"image1": ("a.png", CAT), "image2": ("b.png", THIRD), "private": True}
    st = await h.result(await h.fake.slash("blend", options, member=me))
    private_result(st, SECRET)
    assert (await h.store.get_job(1)).params["private"] is True
    assert not [m for m in public_messages(h) if m.attachments]

    with pytest.raises(InvalidSetting, match="privacy must be one of members, private, public"):
        await h.store.update_settings(h.guild_id, privacy="secret")
    assert (await h.store.update_settings(h.guild_id, privacy=None)).privacy == "members"


async def test_a_private_job_that_waited_through_a_restart_goes_to_the_members_dms(
    running_bot: BotHarness,
) -> None:
    # A queued job resumed after a restart (or adopted from a process that died) has no
    # ephemeral answer to put its result on: its DMs, never the channel naming it.
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_concurrency=1)
    h.gw.script(Reply(body=images_response([CAT]), hold=asyncio.Event()))
    await h.fake.slash("imagine", {"prompt": "held"}, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    me = await h.fake.member(name="waiter")
    waiting = await h.fake.slash(
        "imagine", {"prompt": "a patient secret", "private": True}, member=me
    )
    await _sent(h, waiting, "1st in line")
    h.gw.script(Reply(body=images_response([SECRET])))
    await h.restart()

    await h.fake.wait_until(lambda: h.fake.direct_messages(me), what="a DM")
    (dm,) = h.fake.direct_messages(me)
    assert dm.files[0][1] == SECRET
    assert dm.content.startswith(f"Your private result from <#{h.fake.channel['id']}>")
    assert "a patient secret" in dm.content
    await h.stored()
    assert not [m for m in public_messages(h) if m.attachments or "patient secret" in m.content]
    assert (await h.store.get_job(2)).state == "done"
    # Its ephemeral answer, while the token lasts, says where the result went: not "below".
    edits = [
        (r.json or {}).get("content")
        for r in h.fake.requests
        if r.method == "PATCH" and waiting.token in r.path and isinstance(r.json, dict)
    ]
    assert edits[-1] == (
        "I restarted while this waited in line; it goes on, "
        "and the result will be sent to your DMs."
    )
    assert not [e for e in edits if e and "below" in e]
