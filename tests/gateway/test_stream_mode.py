"""IMAGE_API_STREAM against the loopback fake gateway: what each mode puts on the wire.

``auto`` sends non-streaming requests and switches once a gateway that said it only
streams has answered a streamed one, back when it says it does not stream; ``on``
streams from the first request; ``off`` never switches.
"""

from __future__ import annotations

import contextlib
import io
import logging

import pytest
from PIL import Image

from bot.errors import GatewayError, GatewayRejected
from bot.gateway.errors_map import map_error
from bot.gateway.stream_mode import refuses_non_streaming, refuses_streaming
from bot.types import ImageRequest
from tests.fakes.gateway import Reply, google_error, images_response, openai_error, png_bytes

PNG = png_bytes(12, 7, (200, 30, 90))
REQUEST = ImageRequest(model="gemini-3-pro-image-preview", prompt="a banana robot")
STREAM_ONLY = Reply(status=400, body=openai_error("stream must be true"))
NO_STREAMING = Reply(status=400, body=openai_error("Streaming is not supported"))
OK = Reply(body=images_response([PNG]))
SWITCH_LINE = "only answers streaming requests"
BACK_LINE = "no longer answers streaming requests"


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
        # Phrases of the stream-only kind that the rest of the clause turns around.
        Reply(status=400, body=openai_error("Image generation requires stream=false")),
        Reply(status=400, body=openai_error("This endpoint requires stream to be false")),
        Reply(status=400, body=openai_error("Only stream=false is supported for image models")),
        Reply(status=400, body=openai_error("only streaming: false is supported")),
        Reply(
            status=400, body=openai_error("The model only supports streaming of text, not images")
        ),
        Reply(status=400, body=openai_error("requires streaming to be disabled for image output")),
        Reply(status=422, body=openai_error("stream_options is only allowed when stream is true")),
    ],
)
async def test_auto_keeps_other_refusals(client, gateway_for, fake_gateway, reply):
    fake_gateway.script(reply)
    with pytest.raises(GatewayRejected):
        await client.generate(gateway_for("auto"), REQUEST)
    assert streamed(fake_gateway) == [False]


async def test_not_remembered_when_the_streamed_retry_fails_too(
    client, gateway_for, fake_gateway, caplog
):
    caplog.set_level(logging.INFO, logger="bot.gateway.client")
    gateway = gateway_for("auto")
    rejected = Reply(status=400, body=openai_error("Invalid value for aspect_ratio"))
    fake_gateway.script(STREAM_ONLY, rejected)
    with pytest.raises(GatewayRejected) as caught:
        await client.generate(gateway, REQUEST)
    assert "Invalid value for aspect_ratio" in str(caught.value)

    # The next job is sent as a plain request again, which this gateway answers.
    fake_gateway.script(OK)
    result = await client.generate(gateway, REQUEST)
    assert pixels(result.images[0].data) == ((12, 7), (200, 30, 90))
    assert streamed(fake_gateway) == [False, True, False]
    assert SWITCH_LINE not in caplog.text


async def test_forgotten_when_the_gateway_stops_streaming(
    client, gateway_for, fake_gateway, caplog
):
    caplog.set_level(logging.INFO, logger="bot.gateway.client")
    gateway = gateway_for("auto")
    fake_gateway.script(STREAM_ONLY, OK)
    await client.generate(gateway, REQUEST)

    # Its configuration changed: streamed requests are refused now, plain ones answered.
    fake_gateway.script(NO_STREAMING, OK, OK)
    result = await client.generate(gateway, REQUEST)
    assert pixels(result.images[0].data) == ((12, 7), (200, 30, 90))
    await client.generate(gateway, REQUEST)
    assert streamed(fake_gateway) == [False, True, True, False, False]
    switches = [
        (r.levelno, line)
        for r in caplog.records
        for line in (SWITCH_LINE, BACK_LINE)
        if line in r.getMessage()
    ]
    assert switches == [(logging.INFO, SWITCH_LINE), (logging.INFO, BACK_LINE)]


async def test_switching_back_is_tried_once_per_job(client, gateway_for, fake_gateway):
    gateway = gateway_for("auto")
    fake_gateway.script(STREAM_ONLY, OK)
    await client.generate(gateway, REQUEST)

    fake_gateway.script(NO_STREAMING, STREAM_ONLY, OK)
    with pytest.raises(GatewayRejected) as caught:
        await client.generate(gateway, REQUEST)
    assert "stream must be true" in str(caught.value)
    assert streamed(fake_gateway) == [False, True, True, False]
    assert fake_gateway.pending == 1  # no third attempt within the job


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


@pytest.mark.parametrize(
    ("message", "only_streams", "cannot_stream"),
    [
        ("stream must be true", True, False),
        ("Non-streaming requests are not supported by this channel", True, False),
        ("stream=false is not supported", True, False),
        ("Streaming is not supported for this model; send stream: false", False, True),
        ("This model does not support streaming", False, True),
        ("stream=true is not supported", False, True),
        ("Image generation requires stream=false", False, True),
        ("stream_options is not supported", False, False),
        ("The model only supports streaming of text, not images", False, False),
    ],
)
def test_the_gateways_words_are_read_both_ways(message, only_streams, cannot_stream):
    exc = map_error(400, {"message": message, "type": "invalid_request_error"})
    assert (refuses_non_streaming(exc), refuses_streaming(exc)) == (only_streams, cannot_stream)
    assert not refuses_streaming(map_error(500, {"message": message}))
