"""The delivered size checked, through the real bot, the fake Discord and the fake gateway."""

from __future__ import annotations

import logging

import discord
import pytest

from tests.bot.helpers import button
from tests.fakes.gateway import Reply, images_response, markdown_response, png_bytes
from tests.harness import GATEWAY_KEY, PRO_MODEL, BotHarness, use_own_gateway

# Solid colours: a 4K PNG of one colour is a few tens of KB.
SQUARE = png_bytes(1024, 1024, (20, 20, 200))
WIDE_4K = png_bytes(5504, 3072, (20, 200, 20))
IGNORED = "-# Asked for 4K 16:9, the gateway returned 1024×1024."
ADMIN = discord.Permissions(manage_guild=True)


async def _shown(h: BotHarness) -> str:
    admin = await h.fake.member(ADMIN, name="admin")
    state = await h.fake.interaction_result(await h.fake.slash("settings show", member=admin))
    (embed,) = (
        state.last_message.embeds if state.last_message else state.callback.json["data"]["embeds"]
    )
    (gateway,) = [f["value"] for f in embed["fields"] if f["name"] == "Gateway"]
    return gateway


async def test_an_ignored_4k_16_9_is_said_once_logged_and_shown_to_the_admin(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    assert "Sizes:" not in await _shown(h)  # nothing observed yet
    caplog.set_level(logging.WARNING, logger="bot.jobs")
    h.gw.script(Reply(body=markdown_response([SQUARE])))

    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a wide valley", "size": "4K", "aspect_ratio": "16:9"}
        )
    )

    (req,) = h.gw.requests
    assert req.json["image_config"] == {"aspect_ratio": "16:9", "image_size": "4K"}
    msg = st.original
    assert msg.content.count("Asked for 4K") == 1
    assert msg.content.splitlines()[-1] == IGNORED
    ((_, data),) = msg.files
    assert data == SQUARE  # the image is posted all the same
    (warning,) = [r.getMessage() for r in caplog.records if "ignored the size" in r.getMessage()]
    assert warning == (
        f"gateway {h.gw.base_url} ignored the size: model {PRO_MODEL}, dialect auto, "
        "asked 4K 16:9, delivered 1024×1024"
    )
    assert GATEWAY_KEY not in caplog.text

    assert await _shown(h) == (
        f"Bot default: `{h.gw.base_url}`\nDialect: `auto`\nStreaming: `auto`\n"
        "Sizes: the gateway ignored 4K 16:9 with dialect `auto` (returned 1024×1024, just now)"
    )
    (seen,) = await h.store.size_checks(h.gw.base_url, PRO_MODEL)
    assert (seen.asked, seen.delivered, seen.size_honoured, seen.ratio_honoured) == (
        "4K 16:9",
        "1024×1024",
        False,
        False,
    )


async def test_an_honoured_4k_16_9_has_no_note_and_is_remembered(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([WIDE_4K])))

    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a wide valley", "size": "4K", "aspect_ratio": "16:9"}
        )
    )

    msg = st.original
    assert "Asked for" not in msg.content and "-#" not in msg.content
    ((_, data),) = msg.files
    assert data == WIDE_4K
    assert (await _shown(h)).endswith(
        "Sizes: 4K 16:9 honoured with dialect `auto` (5504×3072, just now)"
    )


async def test_the_note_follows_rerolls_and_reply_edits(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*[Reply(body=images_response([SQUARE]))] * 3)
    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a wide valley", "size": "4K", "aspect_ratio": "16:9"}
        )
    )
    assert st.original.content.count(IGNORED) == 1

    rerolled = await h.result(await h.fake.click(st.original, button(st.original, "reroll")))
    assert rerolled.original.content.count(IGNORED) == 1
    assert h.gw.requests[1].json["image_config"] == {"aspect_ratio": "16:9", "image_size": "4K"}

    # A reply-to-edit asks the server's default size and no ratio (it keeps the input's).
    await h.store.update_settings(h.guild_id, image_size="2K")
    await h.fake.post_message("now at sunset", reply_to=st.original)
    posted = await h.channel_post()
    assert h.gw.requests[2].json["image_config"] == {"image_size": "2K"}
    assert posted.content.count("-# Asked for 2K, the gateway returned 1024×1024.") == 1
    assert posted.files[0][1] == SQUARE


async def test_flash_image_is_not_blamed_for_the_1k_it_always_makes(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([png_bytes(1344, 768)])))
    st = await h.result(
        await h.fake.slash(
            "imagine",
            {
                "prompt": "a frog",
                "size": "4K",
                "aspect_ratio": "16:9",
                "model": "gemini-2.5-flash-image",
            },
        )
    )
    content = st.original.content
    assert "1K images only" in content
    assert "Asked for" not in content
    # Only the ratio was asked of it, and honoured: worth remembering for the admin.
    (seen,) = await h.store.size_checks(h.gw.base_url, "gemini-2.5-flash-image")
    assert (seen.asked, seen.size_honoured, seen.ratio_honoured) == ("16:9", None, True)


async def test_nothing_asked_nothing_checked(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([png_bytes(8, 8)])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a dot"}))
    assert "-#" not in st.original.content
    assert await h.store.size_checks(h.gw.base_url) == []


PLAIN_OPERATOR = (
    "-# The `plain` dialect cannot ask for 4K 16:9, so the gateway made 1024×1024; "
    "the bot's operator can pick another with IMAGE_API_DIALECT."
)


@pytest.mark.parametrize("bot_dialect", ["plain"])
async def test_plain_never_asked_so_the_gateway_is_not_blamed_logged_or_recorded(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    caplog.set_level(logging.INFO, logger="bot.jobs")
    h.gw.script(Reply(body=markdown_response([SQUARE])))

    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a wide valley", "size": "4K", "aspect_ratio": "16:9"}
        )
    )

    (req,) = h.gw.requests
    assert not {"image_config", "image_size", "aspect_ratio"} & set(req.json)
    lines = st.original.content.splitlines()
    assert lines == ["**Imagine** · a wide valley", PLAIN_OPERATOR]
    assert st.original.files[0][1] == SQUARE
    assert "ignored the size" not in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert await h.store.size_checks(h.gw.base_url) == []
    assert await _shown(h) == f"Bot default: `{h.gw.base_url}`\nDialect: `plain`\nStreaming: `auto`"


@pytest.mark.parametrize("bot_dialect", ["plain"])
async def test_plain_on_a_server_gateway_points_the_admin_at_settings(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await use_own_gateway(h, GATEWAY_KEY, dialect="plain")
    h.gw.script(Reply(body=markdown_response([SQUARE])), Reply(body=images_response([WIDE_4K])))

    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a valley", "size": "2K", "aspect_ratio": "16:9"})
    )
    assert st.original.content.splitlines()[1:] == [
        "-# The `plain` dialect cannot ask for 2K 16:9, so the gateway made 1024×1024; "
        "an admin can pick another dialect with /settings gateway."
    ]

    # A result that happens to match what could not be asked needs no word.
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a valley", "size": "4K", "aspect_ratio": "16:9"})
    )
    assert st.original.content == "**Imagine** · a valley"
    assert await h.store.size_checks(h.gw.base_url) == []


@pytest.mark.parametrize(
    "model",
    [
        "nano-banana",
        "fal-ai/nano-banana",
        "Nano-Banana:free",
        "gemini-2.5-flash-image-preview",
        "google/gemini-2.5-flash-image",
    ],
)
async def test_flash_image_under_its_other_names_is_1k_only_and_not_blamed(
    running_bot: BotHarness, model: str
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([SQUARE])))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a frog", "size": "2K", "model": model})
    )
    (req,) = h.gw.requests
    assert (req.json["model"], "image_config" in req.json, "image_size" in req.json) == (
        model,
        False,
        False,
    )
    assert st.original.content.splitlines() == [
        "**Imagine** · a frog",
        f"-# {model} makes 1K images only, so I used 1K.",
    ]
    assert not any(":up" in i for i in st.original.custom_ids())
    assert await h.store.size_checks(h.gw.base_url) == []


@pytest.mark.parametrize("model", ["nano-banana-pro", "nano-banana-2"])
async def test_the_3x_nano_bananas_are_asked_for_2k(running_bot: BotHarness, model: str) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([png_bytes(2048, 2048)])))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a frog", "size": "2K", "model": model})
    )
    (req,) = h.gw.requests
    assert req.json["image_config"] == {"image_size": "2K"}
    assert st.original.content == "**Imagine** · a frog"
