"""Streamed gateway answers through the real bot: what the member gets in Discord.

Each gateway here streams the way a real one does (SSE in small pieces that split
lines and events anywhere, keep-alive comments, a one-line image of hundreds of KB,
an SSE body labelled JSON); the member must get the very image the gateway drew.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from PIL import Image

from tests.fakes.gateway import (
    KEEPALIVE,
    Reply,
    b64,
    chat_stream_events,
    google_response,
    google_stream_events,
    images_response,
    markdown_response,
    parts_response,
    png_bytes,
    stream_error_event,
)
from tests.harness import BotHarness

# Noise compresses badly, so its base64 is one long line of several hundred KB.
NOISY = Image.effect_noise((320, 240), 90).convert("RGB")


def noisy_png() -> bytes:
    import io

    buf = io.BytesIO()
    NOISY.save(buf, "PNG")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("shape", "label", "pieces"),
    [
        ("markdown-one-line", "text/event-stream", (512, 8192)),  # new-api
        ("markdown-split", "text/event-stream", (1, 700)),
        ("images", "application/json", (64, 4096)),  # LiteLLM's label on a stream
        ("parts", "text/event-stream", (100, 3000)),
    ],
)
async def test_a_streamed_answer_posts_the_gateways_image(
    running_bot: BotHarness, shape: str, label: str, pieces: tuple[int, int]
) -> None:
    h = running_bot
    image = noisy_png()
    assert len(b64(image)) > 200_000
    if shape.startswith("markdown"):
        completion = markdown_response([image], "Here you go.")
        content_pieces = 1 if shape.endswith("one-line") else 9
        events = chat_stream_events(completion, content_pieces=content_pieces, keepalives=2)
    elif shape == "images":
        events = chat_stream_events(images_response([image], "Here you go."), keepalives=3)
    else:
        events = chat_stream_events(parts_response([image], "Here you go."), content_pieces=2)
    h.gw.script(Reply(sse=events, content_type=label, pieces=pieces, seed=7))

    st = await h.result(await h.fake.slash("imagine", {"prompt": "static on a screen"}))

    (request,) = h.gw.requests
    assert request.json["stream"] is False  # auto asks for no stream and reads one anyway
    assert KEEPALIVE.encode() not in b"".join(data for _, data in st.original.files)
    ((name, data),) = st.original.files
    assert data == image and name.endswith(".png")
    assert "Here you go." in st.original.content
    assert h.gw.streams[-1].sent == h.gw.streams[-1].total  # the whole stream was read


async def test_a_gateway_that_always_streams_is_read_for_imagine_and_edit(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.streaming = "always"  # OpenRouter / one-api: SSE even for stream:false
    first, second = png_bytes(40, 30, (200, 0, 0)), png_bytes(40, 30, (0, 0, 200))
    h.gw.script(
        Reply(body=images_response([first]), pieces=(1, 300), seed=1),
        Reply(body=markdown_response([second]), pieces=(1, 300), seed=2),
    )
    first_st = await h.result(await h.fake.slash("imagine", {"prompt": "a red square"}))
    second_st = await h.result(await h.fake.slash("edit", {"prompt": "make it blue"}))

    assert first_st.original.files[0][1] == first
    assert second_st.original.files[0][1] == second
    assert h.gw.requests[1].images == [first]  # the streamed result went back for the edit


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_google_streaming_keeps_thought_signatures_for_the_next_edit(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, stream="on"))
    first, second = png_bytes(24, 24, (9, 99, 9)), png_bytes(24, 24, (99, 9, 9))
    h.gw.script(
        Reply(
            sse=google_stream_events(
                google_response(
                    [first],
                    "A small green tile.",
                    thought_images=[png_bytes(6, 6, (1, 1, 1))],
                    thought_signature="c2lnLW9uZQ==",
                ),
                text_pieces=3,
            ),
            pieces=(1, 500),
            seed=3,
        ),
        Reply(body=google_response([second], thought_signature="c2lnLXR3bw==")),
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a green tile"}))
    await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))

    created, edit = h.gw.requests
    assert created.path.endswith(":streamGenerateContent") and created.query == {"alt": "sse"}
    ((_, data),) = st.original.files  # the thought image is a draft, never a result
    assert data == first
    assert "A small green tile." in st.original.content
    model_turn = edit.json["contents"][1]
    assert model_turn["role"] == "model"
    # Replayed as streamed: the text in its three pieces, then the image with its signature.
    texts = [p["text"] for p in model_turn["parts"] if "text" in p]
    assert "".join(texts) == "A small green tile."
    image_parts = [p for p in model_turn["parts"] if "inlineData" in p and not p.get("thought")]
    assert image_parts == [
        {
            "inlineData": {"mimeType": "image/png", "data": b64(first)},
            "thoughtSignature": "c2lnLW9uZQ==",
        }
    ]
    assert first in edit.images


async def test_an_error_event_mid_stream_reaches_the_member_in_the_gateways_words(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    events = chat_stream_events(markdown_response([png_bytes(8, 8)]), content_pieces=4)
    # HTTP 200 went out, some content too, then the gateway gave up.
    broken = [*events[:3], stream_error_event("Insufficient credits for this request", code=402)]
    h.gw.script(Reply(sse=broken, pieces=(1, 64), seed=5))

    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))

    assert len(h.gw.requests) == 1  # out of credit is not retried
    assert st.original.files == []
    assert st.last_message.content == (
        "The image service account is out of credit. The service said: Insufficient credits "
        "for this request. The bot's owner needs to top it up."
    )


async def test_a_stream_that_fails_midway_is_retried_and_the_retry_delivered(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    image = png_bytes(30, 20, (5, 150, 5))
    events = chat_stream_events(images_response([image]))
    h.gw.script(
        Reply(sse=[*events[:1], stream_error_event("Provider disconnected unexpectedly")]),
        Reply(sse=events, pieces=(16, 512), seed=9),
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a green card"}))

    assert len(h.gw.requests) == 2
    assert st.original.files[0][1] == image


async def test_a_body_cut_off_midway_is_named_with_the_host_and_the_bytes(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    body = markdown_response([noisy_png()])
    h.gw.script(*(Reply(body=body, cut_after=4096) for _ in range(3)))  # every retry cut too

    st = await h.result(await h.fake.slash("imagine", {"prompt": "static"}), wait=30)

    assert len(h.gw.requests) == 3
    host = h.gw.root_url.removeprefix("http://")
    assert st.last_message.content.startswith(
        f"The image service at {host} cut its answer off after 4,096 bytes."
    )
    assert "Traceback" not in st.last_message.content


@pytest.mark.parametrize("encoding", ["br", "gzip", "deflate"])
async def test_a_compressed_answer_nobody_asked_for_is_decoded(
    running_bot: BotHarness, encoding: str
) -> None:
    h = running_bot
    image = noisy_png()
    h.gw.script(Reply(body=markdown_response([image]), encoding=encoding, pieces=(256, 4096)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "static"}))
    assert st.original.files[0][1] == image


async def test_an_encoding_we_cannot_decode_is_named(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=markdown_response([png_bytes(8, 8)]), encoding="compress"))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    host = h.gw.root_url.removeprefix("http://")
    assert len(h.gw.requests) == 1
    assert st.last_message.content == (
        f"The image service at {host} sent its answer in the “compress” encoding, "
        "which I cannot decode. Try again; if it keeps happening, ask the bot's owner to check "
        "the bot's gateway."
    )
