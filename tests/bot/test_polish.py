"""What a demanding member and admin see, step by step: wording, pings, limits, edge cases."""

from __future__ import annotations

import pytest

from bot import errors as e
from bot.delivery import MESSAGE_LIMIT, user_message
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))


def _button(message, action: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(f"imagine:{action}:"))


async def _modal_field(h: BotHarness, opened) -> str:
    """Wait for the modal this interaction opened; the custom_id of its one text input."""
    await h.fake.wait_for_interaction_reply(opened)
    assert opened.callback_type == 9, opened.original and opened.original.content
    (field_id,) = [
        c["custom_id"] for row in opened.modal["components"] for c in row.get("components", [])
    ]
    return field_id


def _final_edit(h: BotHarness, st) -> dict:
    """The JSON of the last edit of this interaction's original response."""
    edits = h.fake.find(f"PATCH /webhooks/*/{st.token}/messages/@original")
    return edits[-1].json


async def test_upscale_result_does_not_show_the_internal_prompt(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    up = await h.result(await h.fake.click(st.original, _button(st.original, "up2k")))
    assert "Recreate this exact image" not in up.original.content
    assert "Upscale" in up.original.content and "2K" in up.original.content
    # a reroll of the upscale says what it is, too
    again = await h.result(await h.fake.click(up.original, _button(up.original, "reroll")))
    assert "Recreate this exact image" not in again.original.content
    assert "2K" in again.original.content


async def test_prompt_echo_pings_nobody(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    prompt = "a portrait of <@123456789012345678> and <@&223456789012345678> for @everyone"
    st = await h.result(await h.fake.slash("imagine", {"prompt": prompt}))
    assert "<@123456789012345678>" in st.original.content  # echoed as typed
    mentions = _final_edit(h, st)["allowed_mentions"]
    assert mentions.get("parse", []) == [] and not mentions.get("users")


async def test_channel_fallback_pings_only_the_requester(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST]), delay=1.0))
    member = await h.fake.member(name="patient")
    it = await h.fake.slash(
        "imagine", {"prompt": "a duel with <@123456789012345678>"}, member=member
    )
    await h.gw.wait_for_requests(1)
    h.fake.expire(it)
    await h.channel_post()
    (req,) = h.fake.find("POST /channels/*/messages")
    mentions = req.json["allowed_mentions"]
    assert mentions.get("parse", []) == []
    assert [str(u) for u in mentions["users"]] == [member["user"]["id"]]


async def test_long_model_text_keeps_the_notes(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST], "blah " * 600)))
    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a frog", "size": "4K", "model": "gemini-2.5-flash-image"}
        )
    )
    content = st.original.content
    assert len(content) <= MESSAGE_LIMIT
    assert "a frog" in content
    assert "1K images only" in content  # the note survives; the model text is what gets cut


async def test_reset_with_nothing_to_forget_says_so(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(await h.fake.slash("reset"))
    assert "0 turns" not in st.original.content
    assert "no image history" in st.original.content.lower()


ERRORS = [
    e.NotAnImage(),
    e.ImageTooLarge(),
    e.RequestTooLarge(),
    e.InputImageError(),
    e.GatewayAuthError(),
    e.PaymentRequired(),
    e.ModelNotAvailable(),
    e.ModelNotAvailable(
        "The model foo is not available on this image service or for this API key."
    ),
    e.GatewayRateLimited(),
    e.GatewayRateLimited("The image service is rate limiting us. Try again in 12 seconds."),
    e.GatewayUnavailable(),
    e.GatewayUnavailable("Could not reach the image service."),
    e.GatewayTimeout(),
    e.GatewayTimeout("The image service took longer than 120 seconds to answer."),
    e.GatewayRejected(),
    e.GatewayRejected("The gateway base URL is not a valid http(s) URL."),
    e.ContentBlocked(reason="SAFETY"),
    e.NoImageReturned(model_text="I'd rather not."),
    e.NoImageReturned(),
    e.MalformedResponse(),
    e.ResponseTooLarge(),
    e.UnsafeGatewayURL(),
    e.AccessDenied(),
    e.LimitReached(),
    e.ConfigError(),
]
NEXT_STEP = ("try", "/settings", "send ", "ask ", "pick ", "use ", "wait", "attach")


@pytest.mark.parametrize("exc", ERRORS, ids=lambda x: f"{type(x).__name__}:{x}"[:60])
def test_every_error_says_what_to_do_next(exc: e.ImagineError) -> None:
    text = user_message(exc)
    assert text.startswith(str(exc))
    assert any(step in text.lower() for step in NEXT_STEP), text
    # advice is never said twice
    assert text.lower().count("try again") <= 1, text


def test_our_own_sentences_get_no_generic_advice() -> None:
    # A validation answer already says what is allowed; "try again" would only mislead.
    text = "Aspect ratio must be one of: 1:1, 16:9."
    assert user_message(e.ImagineError(text)) == text


# --- editing the way members really do it ---------------------------------------------------------


async def test_context_menu_edits_an_embedded_image(running_bot: BotHarness) -> None:
    """A pasted image link (or another bot's embed) carries its image in an embed."""
    from tests.fakes import discord_payloads as p

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
    field_id = await _modal_field(h, menu)
    st = await h.result(await h.fake.submit_modal(menu, {field_id: "make it pop"}))
    (req,) = h.gw.requests
    assert req.images == [photo]  # fetched through Discord's media proxy, never example.com
    assert st.original.files[0][1] == SECOND


async def test_context_menu_on_a_sticker_only_message(running_bot: BotHarness) -> None:
    from tests.fakes import discord_payloads as p

    h = running_bot
    msg = p.message(h.fake.guild, h.fake.channel, await h.fake.member(), "")
    msg["sticker_items"] = [{"id": p.snowflake(), "name": "wave", "format_type": 1}]
    posted = await h.fake.dispatch_message(msg)
    st = await h.fake.interaction_result(await h.fake.context_menu("Edit image", posted))
    assert st.original.ephemeral
    assert "sticker" in st.original.content.lower()
    assert h.gw.requests == []


async def test_reply_to_a_result_that_came_from_a_button(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a boat"}))
    rerolled = await h.result(await h.fake.click(st.original, _button(st.original, "reroll")))
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
    from tests.fakes import discord_payloads as p

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


async def test_several_result_images_are_all_posted_with_distinct_names(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST, SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "two kites"}))
    names = [n for n, _ in st.original.files]
    assert [d for _, d in st.original.files] == [FIRST, SECOND]
    assert len(set(names)) == 2


async def test_multi_line_prompt_is_echoed_on_one_line(running_bot: BotHarness) -> None:
    """A modal prompt's line breaks must not turn the echo into headings or lists."""
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, _button(st.original, "edit"))
    field_id = await _modal_field(h, opened)
    done = await h.result(
        await h.fake.submit_modal(opened, {field_id: "make it red\n# and HUGE\n- with clouds"})
    )
    first_line = done.original.content.splitlines()[0]
    assert "make it red # and HUGE - with clouds" in first_line
    # the model still gets the member's words as written
    assert h.gw.requests[1].json["messages"][-1]["content"][0]["text"] == (
        "make it red\n# and HUGE\n- with clouds"
    )


async def test_a_failed_reroll_replaces_its_thinking_message(running_bot: BotHarness) -> None:
    from tests.fakes.gateway import openai_error

    h = running_bot
    h.gw.script(
        Reply(body=images_response([FIRST])),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    failed = await h.result(await h.fake.click(st.original, _button(st.original, "reroll")))
    shown = failed.last_message
    assert not shown.loading  # no "thinking…" left behind
    assert "down or overloaded" in shown.content and "Try again" in shown.content
    assert shown.files == [] and shown.custom_ids() == []
