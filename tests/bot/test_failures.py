"""Every failure ends in a message a member understands; nothing goes upstream that should not."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot import errors as e
from bot.discord_bot.errors import user_message
from tests.bot.helpers import button
from tests.fakes import discord_payloads as p
from tests.fakes.gateway import (
    Reply,
    chat_completion,
    images_response,
    openai_error,
    png_bytes,
)
from tests.harness import BotHarness
from tests.imaging import make_photo_like

FIRST = png_bytes(32, 32, (200, 0, 0))


async def test_non_image_attachment_gets_a_clear_private_answer(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(
        await h.fake.slash(
            "imagine", {"prompt": "x", "image": ("notes.txt", b"hello, not an image")}
        )
    )
    assert st.original.ephemeral
    assert "notes.txt is not an image" in st.original.content
    assert h.gw.requests == []


async def test_text_renamed_png_is_refused_before_the_gateway(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "x", "image": ("fake.png", b"plain text" * 20)})
    )
    # the public "thinking…" message is removed; the answer concerns only this member
    assert st.original_deleted
    assert "not an image I can read" in st.last_message.content
    assert h.gw.requests == []


async def test_refusal_shows_the_model_text(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([], "I can't draw that person.")))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a famous person"}))
    assert "I can't draw that person." in st.last_message.content
    assert st.last_message.files == []


async def test_bad_key_on_the_bot_s_gateway_tells_members_the_owner_must_act(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(status=401, body=openai_error("Invalid API key", code=401)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    # The key is in the operator's .env: no server admin can fix it with /settings gateway.
    assert st.last_message.content.endswith(
        "The bot's owner needs to set a valid key for the bot's gateway."
    )
    assert "/settings gateway" not in st.last_message.content
    job = await h.store.get_job(1)
    assert job.state == "failed" and "rejected the API key" in job.result["error"]


async def test_oversize_result_is_reencoded_under_the_limit_keeping_dimensions(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    big = make_photo_like(640, 480, seed=3)
    limit = len(big) // 3
    h.gw.script(Reply(body=images_response([big])))
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    member = await h.fake.member()
    payload = p.slash_command(
        "imagine",
        [p.str_option("prompt", "a photo")],
        command_id=cmd["id"],
        attachment_size_limit=limit,
        **h.fake.envelope(member),
    )
    st = await h.result(await h.fake.dispatch_interaction(payload))

    ((name, data),) = st.original.files
    assert len(data) <= limit
    with Image.open(io.BytesIO(data)) as im:
        assert im.size == (640, 480)


async def test_busy_member_is_told_instead_of_queued(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, queue_limit=0)  # no line: refused at once
    member = await h.fake.member(name="eager")
    user_id = int(member["user"]["id"])
    for _ in range(2):  # two jobs of this member in flight
        await h.bot.runtime.admissions.acquire(
            user_id=user_id, guild_id=h.guild_id, user_limit=2, guild_limit=10
        )
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "one more"}, member=member)
    )
    assert st.original.ephemeral
    assert st.original.content == "You already have 2 images generating; wait for one to finish."
    assert h.gw.requests == []


IMAGE = Reply(body=images_response([png_bytes(16, 16, (1, 2, 3))]))
OUT_OF_CREDIT = Reply(status=402, body=openai_error("Insufficient credits", code=402))
REFUSED = Reply(body=chat_completion({"role": "assistant", "content": ""}, finish_reason="SAFETY"))


@pytest.mark.parametrize(
    ("first", "jobs_before_the_quota"),
    [
        (IMAGE, 1),
        (OUT_OF_CREDIT, 2),  # the gateway failed the member: it costs them nothing
        (REFUSED, 1),  # a refusal counts, or a forbidden prompt could be retried forever
    ],
    ids=["image", "gateway-failed", "refused"],
)
async def test_hourly_quota_counts_images_and_refusals(
    running_bot: BotHarness, first: Reply, jobs_before_the_quota: int
) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, user_hourly=1)
    member = await h.fake.member(name="quota")
    h.gw.script(first, IMAGE)
    for n in range(jobs_before_the_quota):
        await h.result(await h.fake.slash("imagine", {"prompt": f"try {n}"}, member=member))
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "one more"}, member=member)
    )
    assert st.original.ephemeral and "for this hour" in st.original.content
    assert len(h.gw.requests) == jobs_before_the_quota


async def test_prompt_over_the_limit_is_refused(running_bot: BotHarness) -> None:
    h = running_bot
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    member = await h.fake.member()
    payload = p.slash_command(
        "imagine",
        [p.str_option("prompt", "x" * 4500)],
        command_id=cmd["id"],
        **h.fake.envelope(member),
    )
    st = await h.fake.interaction_result(await h.fake.dispatch_interaction(payload))
    assert st.original.ephemeral and "4000" in st.original.content
    assert h.gw.requests == []


async def test_gateway_down_is_explained(running_bot: BotHarness) -> None:
    h = running_bot
    # the client retries 5xx; every attempt fails
    h.gw.script(*[Reply(status=503, body=openai_error("overloaded", code=503)) for _ in range(3)])
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}), wait=30)
    assert "down or overloaded" in st.last_message.content


async def test_a_boosted_server_gets_an_original_over_10_mib_untouched(
    running_bot: BotHarness,
) -> None:
    import os

    h = running_bot
    noise = Image.frombytes("RGB", (2048, 1800), os.urandom(2048 * 1800 * 3))
    buf = io.BytesIO()
    noise.save(buf, "PNG", compress_level=0)
    original = buf.getvalue()
    assert len(original) > 10 * 1024 * 1024  # over the default limit, under this server's
    h.gw.script(Reply(body=images_response([original])))
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    payload = p.slash_command(
        "imagine",
        [p.str_option("prompt", "a photo")],
        command_id=cmd["id"],
        attachment_size_limit=50 * 1024 * 1024,  # boost level 2
        **h.fake.envelope(await h.fake.member()),
    )
    st = await h.result(await h.fake.dispatch_interaction(payload))

    ((name, data),) = st.original.files
    assert name.endswith(".png") and data == original


async def test_the_gateway_words_reach_the_member_and_keep_our_advice(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(
        Reply(
            body={
                "error": {
                    "code": "BALANCE-LOW",
                    "message": "your balance is too low, try again after a top-up",
                    "type": "insufficient_quota",
                }
            }
        )
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    # The gateway's "try again" is its words, not our advice: the owner hint still follows.
    assert st.last_message.content == (
        "The image service account is out of credit. The service said: BALANCE-LOW: your "
        "balance is too low, try again after a top-up. The bot's owner needs to top it up."
    )


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


async def test_a_failed_reroll_replaces_its_thinking_message(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(
        Reply(body=images_response([FIRST])),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
        Reply(status=503, body=openai_error("overloaded", code=503)),
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    failed = await h.result(await h.fake.click(st.original, button(st.original, "reroll")))
    shown = failed.last_message
    assert not shown.loading  # no "thinking…" left behind
    assert "down or overloaded" in shown.content and "Try again" in shown.content
    assert shown.files == [] and shown.custom_ids() == []
