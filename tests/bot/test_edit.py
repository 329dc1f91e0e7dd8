"""Editing: /edit with history, google verbatim replay, /reset, the context menu, replies."""

from __future__ import annotations

import pytest

from tests.fakes.gateway import Reply, b64, google_response, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(40, 40, (255, 0, 0))
SECOND = png_bytes(40, 40, (0, 0, 255))


async def test_edit_sends_the_previous_output_back(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(
        Reply(body=images_response([FIRST], "Here is a castle.")),
        Reply(body=images_response([SECOND])),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a castle"}))
    st = await h.result(await h.fake.slash("edit", {"prompt": "make it night"}))

    second = h.gw.requests[1]
    messages = second.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "a castle"
    assert messages[1]["content"] == "Here is a castle."
    assert messages[2]["content"][0]["text"] == "make it night"
    assert second.images == [FIRST]  # the chain's latest output, sent back
    assert st.original.files[0][1] == SECOND


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_google_replays_model_turn_with_thought_signature(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(
        Reply(body=google_response([FIRST], "A cat.", thought_signature="c2lnbmF0dXJlLTE=")),
        Reply(body=google_response([SECOND], thought_signature="c2lnLTI=")),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    await h.result(await h.fake.slash("edit", {"prompt": "give it a hat"}))

    first, second = h.gw.requests
    assert ":generateContent" in second.path
    contents = second.json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    assert contents[0]["parts"] == [{"text": "a cat"}]
    # the model turn exactly as the gateway sent it, signatures and image data included
    assert contents[1]["parts"] == [
        {"text": "A cat.", "thoughtSignature": "c2lnbmF0dXJlLTE="},
        {
            "inlineData": {"mimeType": "image/png", "data": b64(FIRST)},
            "thoughtSignature": "c2lnbmF0dXJlLTE=",
        },
    ]
    assert contents[2]["parts"][0] == {"text": "give it a hat"}
    assert second.images == [FIRST]  # only inside the replayed turn, not repeated


async def test_reset_forgets_the_chain(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    await h.result(await h.fake.slash("imagine", {"prompt": "a castle"}))
    st = await h.fake.interaction_result(await h.fake.slash("reset"))
    assert "Forgot this channel's image history (1 turn)" in st.original.content

    st = await h.result(await h.fake.slash("edit", {"prompt": "make it night"}))
    assert "no image in this channel's history" in st.last_message.content
    assert len(h.gw.requests) == 1


async def test_context_menu_opens_modal_and_edits_that_image(running_bot: BotHarness) -> None:
    h = running_bot
    photo = png_bytes(50, 30, (1, 2, 3))
    posted = await h.fake.post_message("look", images=[("photo.png", photo)])
    h.gw.script(Reply(body=images_response([SECOND])))

    menu = await h.fake.context_menu("Edit image", posted)
    await h.fake.wait_for_interaction_reply(menu)
    assert menu.callback_type == 9 and menu.modal["title"] == "Edit image"
    (field_id,) = [
        c["custom_id"] for row in menu.modal["components"] for c in row.get("components", [])
    ]
    st = await h.result(await h.fake.submit_modal(menu, {field_id: "add a rainbow"}))

    (req,) = h.gw.requests
    assert req.images == [photo]
    assert req.json["messages"][-1]["content"][0]["text"] == "add a rainbow"
    assert st.original.files[0][1] == SECOND


async def test_context_menu_on_message_without_image(running_bot: BotHarness) -> None:
    h = running_bot
    posted = await h.fake.post_message("just text")
    st = await h.fake.interaction_result(await h.fake.context_menu("Edit image", posted))
    assert st.original.ephemeral and "no image" in st.original.content
    assert h.gw.requests == []


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
    other_channel = int(h.fake.guild["channels"][1]["id"])
    await h.store.update_settings(h.guild_id, allowed_channels=(other_channel,))
    original = await h.fake.post_message("art", images=[("a.png", FIRST)])
    reply = await h.fake.post_message("make it blue", reply_to=original, mention_bot=True)

    answer = await h.channel_post()
    assert answer.payload["message_reference"]["message_id"] == reply.id
    assert "not enabled in this channel" in answer.content
    assert h.gw.requests == []


async def test_disabled_channel_is_told_only_that(running_bot: BotHarness) -> None:
    h = running_bot
    other_channel = int(h.fake.guild["channels"][1]["id"])
    await h.store.update_settings(h.guild_id, allowed_channels=(other_channel,))
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


async def test_history_setting_bounds_the_replay(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, history_turns=1)
    images = [png_bytes(8, 8, (i, 0, 0)) for i in range(4)]
    h.gw.script(*(Reply(body=images_response([img])) for img in images))
    await h.result(await h.fake.slash("imagine", {"prompt": "p0"}))
    for i in (1, 2):
        await h.result(await h.fake.slash("edit", {"prompt": f"p{i}"}))
    last = h.gw.requests[2].json["messages"]
    assert [m["role"] for m in last] == ["user", "assistant", "user"]  # one earlier turn only
    assert last[0]["content"] == "p1"
    assert h.gw.requests[2].images == [images[1]]

    await h.store.update_settings(h.guild_id, history_turns=0)
    await h.result(await h.fake.slash("edit", {"prompt": "p3"}))
    final = h.gw.requests[3]
    assert [m["role"] for m in final.json["messages"]] == ["user"]  # nothing replayed
    assert final.images == [images[2]]  # but the latest image is still the one edited
