"""Editing: /edit with history, google verbatim replay, /reset, the Edit image context menu."""

from __future__ import annotations

import pytest

from tests.bot.helpers import modal_field
from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, b64, google_response, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(40, 40, (255, 0, 0))
SECOND = png_bytes(40, 40, (0, 0, 255))
THIRD = png_bytes(40, 40, (0, 255, 0))


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


async def test_reset_with_nothing_to_forget_says_so(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(await h.fake.slash("reset"))
    assert "0 turns" not in st.original.content
    assert "no image history" in st.original.content.lower()


async def test_two_members_editing_at_once_each_get_their_own_result(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(
        Reply(body=images_response([FIRST])),
        Reply(body=images_response([SECOND]), delay=0.5),
        Reply(body=images_response([THIRD])),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a castle"}))
    ann = await h.fake.member(name="ann")
    ben = await h.fake.member(name="ben")
    a = await h.fake.slash("edit", {"prompt": "make it night"}, member=ann)
    b = await h.fake.slash("edit", {"prompt": "add a dragon"}, member=ben)
    sa, sb = await h.result(a), await h.result(b)
    assert sa.original.files[0][1] == SECOND and "make it night" in sa.original.content
    assert sb.original.files[0][1] == THIRD and "add a dragon" in sb.original.content
    assert h.gw.requests[2].images == [SECOND]  # ben's edit builds on ann's, in order


async def test_context_menu_edits_an_embedded_image(running_bot: BotHarness) -> None:
    """A pasted image link (or another bot's embed) carries its image in an embed."""
    h = running_bot
    photo = png_bytes(40, 30, (5, 6, 7))
    c = h.fake.channel
    url = h.fake.host_file(c["id"], p.snowflake(), "link.png", photo, "image/png")
    embed = {
        "type": "image",
        "url": "https://example.com/link.png",
        "thumbnail": {
            "url": "https://example.com/link.png",
            "proxy_url": url,
            "width": 40,
            "height": 30,
        },
    }
    author = await h.fake.member(name="linker")
    posted = await h.fake.dispatch_message(
        p.message(h.fake.guild, c, author, "https://example.com/link.png", embeds=[embed])
    )
    h.gw.script(Reply(body=images_response([SECOND])))
    menu = await h.fake.context_menu("Edit image", posted)
    field_id = await modal_field(h, menu)
    st = await h.result(await h.fake.submit_modal(menu, {field_id: "make it pop"}))
    (req,) = h.gw.requests
    assert req.images == [photo]  # fetched through Discord's media proxy, never example.com
    assert st.original.files[0][1] == SECOND


async def test_context_menu_on_a_sticker_only_message(running_bot: BotHarness) -> None:
    h = running_bot
    msg = p.message(h.fake.guild, h.fake.channel, await h.fake.member(), "")
    msg["sticker_items"] = [{"id": p.snowflake(), "name": "wave", "format_type": 1}]
    posted = await h.fake.dispatch_message(msg)
    st = await h.fake.interaction_result(await h.fake.context_menu("Edit image", posted))
    assert st.original.ephemeral
    assert "sticker" in st.original.content.lower()
    assert h.gw.requests == []
