"""IMAGE_API_STREAM against the loopback fake gateway: what each mode puts on the wire.

``auto`` sends non-streaming requests and switches once, for good, when a gateway says
it only streams; ``on`` streams from the first request; ``off`` never switches.
"""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
from PIL import Image

from bot.errors import GatewayError, GatewayRejected
from bot.types import ImageRequest
from tests.fakes.gateway import Reply, google_error, images_response, openai_error, png_bytes

PNG = png_bytes(12, 7, (200, 30, 90))
REQUEST = ImageRequest(model="gemini-3-pro-image-preview", prompt="a banana robot")
STREAM_ONLY = Reply(status=400, body=openai_error("stream must be true"))
SWITCH_LINE = "only answers streaming requests"


def streamed(fake_gateway) -> list[bool]:
    return [r.json["stream"] for r in fake_gateway.requests]


def pixels(data: bytes) -> tuple[tuple[int, int], object]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.convert("RGB").getpixel((5, 3))


async def test_auto_switches_once_and_streams_at_once_afterwards(
    client, gateway_for, fake_gateway, caplog
):
    caplog.set_level(logging.INFO, logger="bot.gateway.client")
    gateway = gateway_for("auto")
    fake_gateway.script(STREAM_ONLY, Reply(body=images_response([PNG])))

    result = await client.generate(gateway, REQUEST)

    assert pixels(result.images[0].data) == ((12, 7), (200, 30, 90))
    assert streamed(fake_gateway) == [False, True]
    # Only the flag changed between the two requests.
    first, second = (r.json for r in fake_gateway.requests)
    assert {**first, "stream": True} == second

    fake_gateway.script(Reply(body=images_response([PNG])))
    third = await client.generate(gateway, REQUEST)
    assert [i.data for i in third.images] == [PNG]
    assert streamed(fake_gateway) == [False, True, True]
    switches = [r for r in caplog.records if SWITCH_LINE in r.getMessage()]
    assert len(switches) == 1 and switches[0].levelno == logging.INFO
    assert "SECRET" not in caplog.text


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "Only stream mode is supported"),
        (400, "non-streaming is not supported for this model"),
        (422, "This channel only supports streaming"),
    ],
)
async def test_auto_recognises_other_wordings(client, gateway_for, fake_gateway, status, message):
    fake_gateway.script(
        Reply(status=status, body=openai_error(message)), Reply(body=images_response([PNG]))
    )
    result = await client.generate(gateway_for("plain"), REQUEST)
    assert [i.data for i in result.images] == [PNG]
    assert streamed(fake_gateway) == [False, True]


@pytest.mark.parametrize(
    "reply",
    [
        # The opposite complaint: this gateway cannot stream at all.
        Reply(status=400, body=openai_error("Streaming is not supported")),
        Reply(status=400, body=openai_error("stream_options is not supported")),
        Reply(status=400, body=openai_error("Invalid value for aspect_ratio")),
    ],
)
async def test_auto_keeps_other_refusals(client, gateway_for, fake_gateway, reply):
    fake_gateway.script(reply)
    with pytest.raises(GatewayRejected):
        await client.generate(gateway_for("auto"), REQUEST)
    assert streamed(fake_gateway) == [False]


async def test_off_never_switches(client, gateway_for, fake_gateway):
    gateway = gateway_for("auto", stream="off")
    fake_gateway.script(STREAM_ONLY, Reply(body=images_response([PNG])))
    with pytest.raises(GatewayRejected) as caught:
        await client.generate(gateway, REQUEST)
    assert "stream must be true" in str(caught.value)  # the gateway's words reach the user
    result = await client.generate(gateway, REQUEST)
    assert [i.data for i in result.images] == [PNG]
    assert streamed(fake_gateway) == [False, False]


async def test_on_streams_from_the_first_request(client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(body=images_response([PNG])))
    result = await client.generate(gateway_for("flat", stream="on"), REQUEST)
    assert [i.data for i in result.images] == [PNG]
    assert streamed(fake_gateway) == [True]


async def test_the_switch_is_remembered_per_base_url_and_dialect(
    client, make_client, gateway_for, fake_gateway
):
    fake_gateway.script(STREAM_ONLY, Reply(body=images_response([PNG])))
    await client.generate(gateway_for("auto"), REQUEST)
    assert streamed(fake_gateway) == [False, True]

    # Another dialect at the same address, or another client, has not been told.
    fake_gateway.script(Reply(body=images_response([PNG])), Reply(body=images_response([PNG])))
    await client.generate(gateway_for("openrouter"), REQUEST)
    await make_client().generate(gateway_for("auto"), REQUEST)
    assert streamed(fake_gateway) == [False, True, False, False]


async def test_google_switches_to_stream_generate_content(client, gateway_for, fake_gateway):
    fake_gateway.script(
        Reply(
            status=400,
            body=google_error(400, "Only streaming is supported", "INVALID_ARGUMENT"),
        )
    )
    # Whatever the fake answers the streamed route, the request must have gone there.
    with contextlib.suppress(GatewayError):
        await client.generate(gateway_for("google"), REQUEST)
    paths = [r.path.rsplit(":", 1)[1] for r in fake_gateway.requests]
    assert paths == ["generateContent", "streamGenerateContent"]
