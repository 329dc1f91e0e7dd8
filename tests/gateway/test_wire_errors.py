"""What a member reads for real gateway error shapes, sent over HTTP by the fake gateway."""

from __future__ import annotations

import pytest

from bot.errors import GatewayAuthError, GatewayError, GatewayTimeout
from bot.gateway.client import GatewayClient
from bot.types import GatewayConfig, ImageRequest
from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    chat_stream_events,
    choice_error,
    error_event,
    markdown_response,
    openai_error,
    png_bytes,
)

REQUEST = ImageRequest(model="gemini-2.5-flash-image", prompt="a lighthouse")
KEY = "myGatewayKey-9f8e7d6c5b4a"
PNG = png_bytes(6, 4)


async def failure(client: GatewayClient, fake: FakeGateway, reply: Reply) -> GatewayError:
    fake.script(reply)
    config = GatewayConfig(base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=10.0)
    with pytest.raises(GatewayError) as info:
        await client.generate(config, REQUEST)
    return info.value


async def test_a_key_echoed_at_the_cut_leaves_no_prefix(client):
    message = (
        "The token you sent is not valid for this project and region, please check it "
        + "and " * 22
        + "received token "
        + KEY
    )
    async with FakeGateway() as fake:
        exc = await failure(client, fake, Reply(status=401, body=openai_error(message)))
    assert isinstance(exc, GatewayAuthError)
    assert str(exc) == (
        "The image service rejected the API key. The service said: The token you sent is not "
        "valid for this project and region, please check it" + " and" * 22 + " received token…"
    )
    assert KEY[:8] not in str(exc) and KEY[:8] not in exc.gateway_message


async def test_a_key_cut_by_the_scan_limit_leaves_no_prefix(client):
    # Markup collapses to nothing, so the words end where the first 1600 characters did.
    message = "Invalid key for route" + "<br>" * 390 + " " + KEY
    async with FakeGateway() as fake:
        exc = await failure(client, fake, Reply(status=401, body=openai_error(message)))
    assert str(exc) == (
        "The image service rejected the API key. The service said: Invalid key for route…"
    )


async def test_an_error_event_after_200_is_the_gateways_error(client):
    events = chat_stream_events(markdown_response([PNG]), content_pieces=4, done=False)[:2]
    events.append(error_event({"message": "Upstream request timed out", "code": 504}))
    async with FakeGateway() as fake:
        exc = await failure(client, fake, Reply(sse=events, pieces=(1, 64)))
    assert isinstance(exc, GatewayTimeout) and exc.retryable
    assert str(exc) == (
        "The image service took too long to answer. The service said: Upstream request timed out."
    )


async def test_a_text_error_event_after_200_carries_its_words(client):
    events = [*chat_stream_events(markdown_response([PNG]), done=False)[:1]]
    events.append(error_event("upstream connection reset by peer"))
    async with FakeGateway() as fake:
        exc = await failure(client, fake, Reply(sse=events))
    assert str(exc) == (
        "The image service did not accept the request. The service said: upstream connection "
        "reset by peer."
    )


async def test_a_stream_opening_with_an_envelope_keeps_its_image(client):
    events = chat_stream_events(markdown_response([PNG], "here"), envelope_first=True)
    assert "choices" not in events[0]
    async with FakeGateway() as fake:
        fake.script(Reply(sse=events, pieces=(1, 64)))
        config = GatewayConfig(base_url=fake.base_url, api_key=KEY, max_retries=0, timeout=10.0)
        result = await client.generate(config, REQUEST)
    assert [image.data for image in result.images] == [PNG]
    assert result.text == "here"


@pytest.mark.parametrize(
    ("reply", "kind", "sentence"),
    [
        (
            Reply(
                body={
                    "error": {
                        "code": "BALANCE-LOW",
                        "message": "your balance is too low",
                        "type": "insufficient_quota",
                    }
                }
            ),
            "PaymentRequired",
            "The image service account is out of credit. "
            "The service said: BALANCE-LOW: your balance is too low.",
        ),
        (
            Reply(
                status=400,
                body=openai_error(
                    "Provider returned error",
                    code=400,
                    metadata={
                        "raw": '{"error":{"code":400,"message":"Image part is missing a '
                        'thought_signature","status":"INVALID_ARGUMENT"}}',
                        "provider_name": "Google AI Studio",
                    },
                ),
            ),
            "GatewayRejected",
            "The image service did not accept the request (HTTP 400). The service said: "
            "INVALID_ARGUMENT: Image part is missing a thought_signature (from Google AI Studio).",
        ),
        (
            Reply(
                status=500,
                body={
                    "error": {"message": "empty response from Gemini API", "type": "new_api_error"}
                },
            ),
            "GatewayUnavailable",
            "The image service is down or overloaded right now (HTTP 500). Try again in a minute. "
            "The service said: empty response from Gemini API.",
        ),
        (
            Reply(body=choice_error("Provider disconnected", 502)),
            "GatewayUnavailable",
            "The image service is down or overloaded right now (HTTP 502). Try again in a minute. "
            "The service said: Provider disconnected.",
        ),
        (
            Reply(
                status=502,
                body="<html><title>502 Bad Gateway</title></html>",
                content_type="text/html",
            ),
            "GatewayUnavailable",
            "The image service is down or overloaded right now (HTTP 502). Try again in a minute. "
            "The service sent an HTML error page titled \u201c502 Bad Gateway\u201d.",
        ),
    ],
    ids=["200-error-body", "openrouter-raw", "new-api-500", "choice-error", "html-502"],
)
async def test_the_gateway_words_reach_the_user(
    client, gateway_for, fake_gateway, reply, kind, sentence
):
    fake_gateway.script(reply)
    with pytest.raises(GatewayError) as info:
        await client.generate(gateway_for("auto", max_retries=0), REQUEST)
    assert type(info.value).__name__ == kind
    assert str(info.value) == sentence
