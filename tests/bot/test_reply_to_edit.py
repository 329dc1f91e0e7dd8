"""Reply-to-edit and mention-to-edit: a message to the bot, not a command, edits an image."""

from __future__ import annotations

from tests.bot.helpers import button
from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))


async def allow_only_another_channel(h: BotHarness) -> dict:
    """Enable the bot in the server's second channel only (not the one posted in); that channel."""
    other = h.fake.guild["channels"][1]
    await h.store.update_settings(h.guild_id, allowed_channels=(int(other["id"]),))
    return other


async def test_reply_mentioning_the_bot_edits_the_image(running_bot: BotHarness) -> None:
    h = running_bot
    photo = png_bytes(30, 30, (9, 9, 9))
    original = await h.fake.post_message("my drawing", images=[("d.png", photo)])
    h.gw.script(Reply(body=images_response([SECOND], "Done.")))

    reply = await h.fake.post_message("make it blue", reply_to=original, mention_bot=True)
    posted = await h.channel_post()

    (req,) = h.gw.requests
    assert req.images == [photo]
    assert req.json["messages"][-1]["content"][0]["text"] == "make it blue"
    assert posted.payload["message_reference"]["message_id"] == reply.id
    assert h.fake.find("POST /channels/*/typing")  # the member sees the bot at work
    assert posted.files[0][1] == SECOND
    assert "Done." in posted.content
    assert any(i.startswith("imagine:reroll:") for i in posted.custom_ids())


async def test_reply_to_a_bot_result_continues_editing(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a boat"}))

    result_message = st.original
    await h.fake.post_message("now at sunset", reply_to=result_message)
    posted = await h.channel_post()

    second = h.gw.requests[1]
    assert second.images == [FIRST]
    assert [m["role"] for m in second.json["messages"]] == ["user", "assistant", "user"]
    assert posted.files[0][1] == SECOND


async def test_replies_not_meant_for_the_bot_are_ignored(running_bot: BotHarness) -> None:
    h = running_bot
    photo = png_bytes(30, 30, (9, 9, 9))
    original = await h.fake.post_message("my drawing", images=[("d.png", photo)])
    await h.fake.post_message("nice one!", reply_to=original)  # a member talking to a member
    h.gw.script(Reply(body=images_response([SECOND])))
    reply = await h.fake.post_message("make it green", reply_to=original, mention_bot=True)

    posted = await h.channel_post()
    assert posted.payload["message_reference"]["message_id"] == reply.id
    (req,) = h.gw.requests
    assert req.json["messages"][-1]["content"][0]["text"] == "make it green"


async def test_reply_in_a_channel_the_bot_is_not_enabled_in(running_bot: BotHarness) -> None:
    h = running_bot
    await allow_only_another_channel(h)
    original = await h.fake.post_message("art", images=[("a.png", FIRST)])
    reply = await h.fake.post_message("make it blue", reply_to=original, mention_bot=True)

    answer = await h.channel_post()
    assert answer.payload["message_reference"]["message_id"] == reply.id
    assert "not enabled in this channel" in answer.content
    assert h.gw.requests == []


async def test_disabled_channel_is_told_only_that(running_bot: BotHarness) -> None:
    h = running_bot
    await allow_only_another_channel(h)
    original = await h.fake.post_message("no pictures here")
    await h.fake.post_message("draw this", reply_to=original, mention_bot=True)

    answer = await h.channel_post()
    assert "not enabled in this channel" in answer.content
    assert "image" not in answer.content.lower()


async def test_reply_mentioning_the_bot_on_a_text_message(running_bot: BotHarness) -> None:
    h = running_bot
    original = await h.fake.post_message("no pictures here")
    await h.fake.post_message("draw this", reply_to=original, mention_bot=True)
    answer = await h.channel_post()
    assert "no image I can edit" in answer.content
    assert h.gw.requests == []


async def test_reply_to_a_result_that_came_from_a_button(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a boat"}))
    rerolled = await h.result(await h.fake.click(st.original, button(st.original, "reroll")))
    await h.fake.post_message("now at sunset", reply_to=rerolled.original)
    posted = await h.channel_post()
    third = h.gw.requests[2]
    assert third.images == [SECOND]
    assert posted.files[0][1] == THIRD


async def test_reply_to_a_message_with_several_images_sends_them_all(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    images = [png_bytes(20, 20, (i, i, i)) for i in (1, 2, 3, 4)]
    original = await h.fake.post_message(
        "mood board", images=[(f"{i}.png", img) for i, img in enumerate(images)]
    )
    h.gw.script(Reply(body=images_response([SECOND])))
    await h.fake.post_message("merge these", reply_to=original, mention_bot=True)
    posted = await h.channel_post()
    (req,) = h.gw.requests
    assert req.images == images[:3]
    assert "first 3" in posted.content  # the member learns the fourth was left out


async def test_reply_prompt_names_other_members_instead_of_raw_ids(running_bot: BotHarness) -> None:
    h = running_bot
    friend = await h.fake.member(name="alice")
    original = await h.fake.post_message("art", images=[("a.png", FIRST)])
    h.gw.script(Reply(body=images_response([SECOND])))
    author = await h.fake.member(name="bob")
    content = f"<@{h.fake.bot_user['id']}> put <@{friend['user']['id']}> in it"
    msg = p.message(
        h.fake.guild,
        h.fake.channel,
        author,
        content,
        reply_to=original.payload,
        mentions=[h.fake.bot_user, friend["user"]],
    )
    await h.fake.dispatch_message(msg)
    await h.channel_post()
    (req,) = h.gw.requests
    assert req.json["messages"][-1]["content"][0]["text"] == "put @alice in it"


async def test_mention_with_an_attached_image_edits_it(running_bot: BotHarness) -> None:
    h = running_bot
    photo = png_bytes(30, 20, (4, 5, 6))
    h.gw.script(Reply(body=images_response([SECOND], "Watercolour it is.")))
    msg = await h.fake.post_message(
        "make this a watercolor", images=[("p.png", photo)], mention_bot=True
    )
    posted = await h.channel_post()

    (req,) = h.gw.requests
    assert req.images == [photo]
    assert req.json["messages"][-1]["content"][0]["text"] == "make this a watercolor"
    assert posted.payload["message_reference"]["message_id"] == msg.id
    assert posted.files[0][1] == SECOND
    assert any(i.startswith("imagine:reroll:") for i in posted.custom_ids())


async def test_mention_with_an_image_in_a_disabled_channel(running_bot: BotHarness) -> None:
    h = running_bot
    await allow_only_another_channel(h)
    msg = await h.fake.post_message("paint it", images=[("p.png", FIRST)], mention_bot=True)
    answer = await h.channel_post()
    assert answer.payload["message_reference"]["message_id"] == msg.id
    assert "not enabled in this channel" in answer.content
    assert h.gw.requests == []


async def test_mention_without_image_or_reply_gets_a_hint(running_bot: BotHarness) -> None:
    h = running_bot
    msg = await h.fake.post_message("hello?", mention_bot=True)
    answer = await h.channel_post()
    assert answer.payload["message_reference"]["message_id"] == msg.id
    assert "/imagine" in answer.content and "attach" in answer.content.lower()
    assert h.gw.requests == []


async def test_mention_hint_stays_quiet_where_disabled_and_for_bots(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    other = await allow_only_another_channel(h)
    await h.fake.post_message("hello?", mention_bot=True)  # disabled channel: silence
    robot = await h.fake.member(name="robot")
    robot["user"]["bot"] = True
    await h.fake.post_message("hello?", mention_bot=True, author=robot, channel=other)
    # a member in the enabled channel is answered; that answer is the first bot post
    await h.fake.post_message("hello?", mention_bot=True, channel=other)
    answer = await h.channel_post()
    assert answer.payload["channel_id"] == other["id"]
    assert "/imagine" in answer.content
    assert len(h.fake.find("POST /channels/*/messages")) == 1


async def test_mention_on_a_reply_to_text_edits_its_own_image(running_bot: BotHarness) -> None:
    h = running_bot
    question = await h.fake.post_message("can someone fix my photo?")
    h.gw.script(Reply(body=images_response([SECOND])))
    await h.fake.post_message(
        "brighten this", images=[("p.png", FIRST)], reply_to=question, mention_bot=True
    )
    posted = await h.channel_post()
    (req,) = h.gw.requests
    assert req.images == [FIRST]
    assert posted.files[0][1] == SECOND


async def test_mention_with_an_image_but_no_words_asks_for_them(running_bot: BotHarness) -> None:
    h = running_bot
    await h.fake.post_message("", images=[("p.png", FIRST)], mention_bot=True)
    answer = await h.channel_post()
    assert "what to change" in answer.content
    assert h.gw.requests == []
