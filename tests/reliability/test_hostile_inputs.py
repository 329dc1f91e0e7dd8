"""Hand-made payloads a modified client could send: each gets a clear answer, nothing goes upstream.

Discord's own client enforces choices and lengths; the bot must not rely on it.
Attachments (zero bytes, truncated, SVG, bombs, animations, CMYK, 16-bit, EXIF) are
covered by tests/images/ and tests/bot/test_failures.py / test_downloads.py.
"""

from __future__ import annotations

import pytest

from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(16, 16, (90, 20, 160))


async def _slash_raw(h: BotHarness, options: list[dict]):
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    payload = p.slash_command(
        "imagine", options, command_id=cmd["id"], **h.fake.envelope(await h.fake.member())
    )
    return await h.fake.interaction_result(await h.fake.dispatch_interaction(payload))


@pytest.mark.parametrize(
    ("option", "value", "answer"),
    [
        ("aspect_ratio", "banana", "aspect ratio is not one I know"),
        ("aspect_ratio", "1:1000", "aspect ratio is not one I know"),
        ("size", "8K", "must be 1K, 2K or 4K"),
        ("model", "gemini 3 pro", "one word"),
        ("model", "m" * 201, "one word"),
        ("model", "../../hosted/img0.png", "one word"),
    ],
)
async def test_option_values_outside_the_choices(
    running_bot: BotHarness, option: str, value: str, answer: str
) -> None:
    h = running_bot
    st = await _slash_raw(h, [p.str_option("prompt", "a cat"), p.str_option(option, value)])
    assert st.original.ephemeral and answer in st.original.content
    assert h.gw.requests == []
    assert await h.store.get_job(1) is None


@pytest.mark.parametrize("prompt", ["   ", "\n\t"])
async def test_blank_prompt(running_bot: BotHarness, prompt: str) -> None:
    h = running_bot
    st = await _slash_raw(h, [p.str_option("prompt", prompt)])
    assert st.original.ephemeral and "prompt is empty" in st.original.content
    assert h.gw.requests == []


@pytest.mark.parametrize(
    ("text", "answer"), [("y" * 4001, "the limit is 4000"), ("   ", "prompt is empty")]
)
async def test_edit_modal_input_beyond_its_limits(
    running_bot: BotHarness, text: str, answer: str
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    edit = next(c for c in st.original.custom_ids() if c.startswith("imagine:edit:"))
    opened = await h.fake.click(st.original, edit)
    await h.fake.wait_for_interaction_reply(opened)
    (field_id,) = [
        c["custom_id"] for row in opened.modal["components"] for c in row.get("components", [])
    ]
    submitted = await h.result(await h.fake.submit_modal(opened, {field_id: text}))
    assert answer in submitted.last_message.content
    assert submitted.last_message.attachments == []
    assert len(h.gw.requests) == 1  # only the first /imagine went upstream


async def test_reply_prompt_beyond_the_limit(running_bot: BotHarness) -> None:
    h = running_bot
    target = await h.fake.post_message("here", images=[("a.png", IMAGE)])
    await h.fake.post_message("z" * 4001, reply_to=target, mention_bot=True)
    answer = await h.channel_post()
    assert "the limit is 4000" in answer.content
    assert h.gw.requests == []
