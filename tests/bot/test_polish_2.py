"""Second polish round: reroll chains, mention-to-edit, waiting for the channel, stale forms."""

from __future__ import annotations

from tests.bot.test_polish import _button, _modal_field
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))
FOURTH = png_bytes(32, 32, (200, 200, 0))


# --- 1. a reroll of /imagine starts a new chain ---------------------------------------------------


async def test_reroll_of_imagine_starts_a_new_chain(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD, FOURTH)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))
    await h.result(await h.fake.click(st.original, _button(st.original, "reroll")))
    await h.result(await h.fake.slash("edit", {"prompt": "add clouds"}))

    rerolled, last = h.gw.requests[2], h.gw.requests[3]
    assert [m["role"] for m in rerolled.json["messages"]] == ["user"]  # like /imagine again
    assert last.images == [THIRD]  # the reroll's image, not the edit's
    messages = last.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "a kite"  # only the new chain is replayed
    assert "make it red" not in str(messages)


async def test_reroll_of_an_edit_still_continues_the_chain(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD, FOURTH)))
    await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    edited = await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))
    await h.result(await h.fake.click(edited.original, _button(edited.original, "reroll")))
    await h.result(await h.fake.slash("edit", {"prompt": "add clouds"}))

    assert h.gw.requests[2].images == [FIRST]  # the reroll edits what the edit edited
    last = h.gw.requests[3]
    assert last.images == [THIRD]
    assert len(last.json["messages"]) == 7  # imagine, edit, reroll replayed, then this turn


# --- 2. mentioning the bot on a message with images -----------------------------------------------


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
    other_channel = int(h.fake.guild["channels"][1]["id"])
    await h.store.update_settings(h.guild_id, allowed_channels=(other_channel,))
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
    other = h.fake.guild["channels"][1]
    await h.store.update_settings(h.guild_id, allowed_channels=(int(other["id"]),))
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


# --- 3. waiting for the channel's lock ------------------------------------------------------------


async def test_an_edit_waiting_for_the_channel_says_so(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    await h.result(await h.fake.slash("imagine", {"prompt": "a castle"}))
    channel_id = int(h.fake.channel["id"])
    lock = h.bot.runtime.channel_lock(channel_id)
    await lock.acquire()  # another edit of this channel's chain is running
    try:
        it = await h.fake.slash("edit", {"prompt": "make it night"})

        def progress(text: str, absent: str | None = None):
            def check(r) -> bool:
                content = (r.json.get("content") if isinstance(r.json, dict) else "") or ""
                return (
                    r.method == "PATCH"
                    and it.token in r.path
                    and text in content
                    and (absent is None or absent not in content)
                )

            return check

        await h.fake.wait_for(progress("Waiting for the edit in progress in this channel"))
        assert len(h.gw.requests) == 1
    finally:
        lock.release()
    running = await h.fake.wait_for(progress("Editing…", absent="Waiting"))
    assert running.json["content"].startswith("Editing… ")
    done = await h.result(it)
    assert done.original.files[0][1] == SECOND


# --- 4. forms opened before a restart -------------------------------------------------------------


async def test_edit_button_form_submitted_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, _button(st.original, "edit"))
    field_id = await _modal_field(h, opened)
    await h.restart()
    late = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {field_id: "add clouds"})
    )
    assert late.original.ephemeral
    assert "open it again" in late.original.content
    assert len(h.gw.requests) == 1


async def test_context_menu_form_submitted_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    posted = await h.fake.post_message("look", images=[("photo.png", FIRST)])
    menu = await h.fake.context_menu("Edit image", posted)
    field_id = await _modal_field(h, menu)
    assert menu.modal["custom_id"].startswith("imagine:modal:")
    await h.restart()
    late = await h.fake.interaction_result(await h.fake.submit_modal(menu, {field_id: "blue"}))
    assert late.original.ephemeral and "open it again" in late.original.content
    assert h.gw.requests == []


async def test_a_fresh_form_is_answered_once(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([SECOND])))
    posted = await h.fake.post_message("look", images=[("photo.png", FIRST)])
    menu = await h.fake.context_menu("Edit image", posted)
    field_id = await _modal_field(h, menu)
    done = await h.result(await h.fake.submit_modal(menu, {field_id: "make it blue"}))
    assert done.original.files[0][1] == SECOND
    assert len(h.fake.find(f"POST /interactions/{done.id}/*/callback")) == 1


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
