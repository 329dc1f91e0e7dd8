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
    e.DeliveryError(),
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
