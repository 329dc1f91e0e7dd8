"""What a posted result says and whom it pings: the prompt echo, mentions, notes, file names."""

from __future__ import annotations

from bot.discord_bot.delivery import MESSAGE_LIMIT
from tests.bot.helpers import button, modal_field
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))


def _final_edit(h: BotHarness, st) -> dict:
    """The JSON of the last edit of this interaction's original response."""
    edits = h.fake.find(f"PATCH /webhooks/*/{st.token}/messages/@original")
    return edits[-1].json


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


async def test_multi_line_prompt_is_echoed_on_one_line(running_bot: BotHarness) -> None:
    """A modal prompt's line breaks must not turn the echo into headings or lists."""
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, button(st.original, "edit"))
    field_id = await modal_field(h, opened)
    done = await h.result(
        await h.fake.submit_modal(opened, {field_id: "make it red\n# and HUGE\n- with clouds"})
    )
    first_line = done.original.content.splitlines()[0]
    assert "make it red # and HUGE - with clouds" in first_line
    # the model still gets the member's words as written
    assert h.gw.requests[1].json["messages"][-1]["content"][0]["text"] == (
        "make it red\n# and HUGE\n- with clouds"
    )


async def test_several_result_images_are_all_posted_with_distinct_names(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST, SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "two kites"}))
    names = [n for n, _ in st.original.files]
    assert [d for _, d in st.original.files] == [FIRST, SECOND]
    assert len(set(names)) == 2
