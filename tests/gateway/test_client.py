"""The client against the loopback fake gateway: real httpx, real sockets, real processes."""

from __future__ import annotations

import base64

import pytest

from bot.errors import (
    ContentBlocked,
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    MalformedResponse,
    NotAnImage,
    RequestTooLarge,
    ResponseTooLarge,
)
from bot.gateway.turns import restore_inline_data
from bot.types import GatewayConfig, HistoryTurn, ImageRequest, InputImage
from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    choice_error,
    google_error,
    google_response,
    images_response,
    jpeg_bytes,
    markdown_response,
    openai_error,
    parts_response,
    png_bytes,
    retry_info,
)

from .conftest import API_KEY

PNG = png_bytes(10, 6)
JPEG = jpeg_bytes(6, 10)
REF = InputImage(JPEG, "image/jpeg", 6, 10)
REQUEST = ImageRequest(
    model="gemini-3-pro-image-preview",
    prompt="a banana robot",
    images=(REF,),
    aspect_ratio="16:9",
    image_size="2K",
    temperature=0.5,
    max_tokens=4096,
)


@pytest.mark.parametrize("dialect", ["auto", "openrouter", "flat", "plain"])
async def test_chat_dialects_on_the_wire(client, gateway_for, fake_gateway, dialect):
    fake_gateway.script(Reply(body=parts_response([PNG], "Here it is")))
    result = await client.generate(gateway_for(dialect), REQUEST)
    assert [i.data for i in result.images] == [PNG]
    assert result.text == "Here it is"
    (sent,) = fake_gateway.requests
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert "x-goog-api-key" not in sent.headers
    assert sent.headers["content-type"] == "application/json"
    body = sent.json
    assert body["model"] == "gemini-3-pro-image-preview"
    assert body["stream"] is False
    assert body["temperature"] == 0.5 and body["max_tokens"] == 4096
    assert body["messages"][0]["content"][0] == {"type": "text", "text": "a banana robot"}
    assert sent.images == [JPEG]
    assert ("modalities" in body) == (dialect in ("auto", "openrouter"))
    assert ("image_config" in body) == (dialect in ("auto", "openrouter"))
    assert ("aspect_ratio" in body) == (dialect in ("auto", "flat"))
    if dialect in ("auto", "openrouter"):
        assert body["image_config"] == {"aspect_ratio": "16:9", "image_size": "2K"}
    if dialect in ("auto", "flat"):
        assert (body["aspect_ratio"], body["image_size"]) == ("16:9", "2K")


async def test_google_dialect_on_the_wire(client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(body=google_response([PNG], "ok")))
    request = ImageRequest(
        model="google/gemini-3-pro-image",
        prompt="p",
        images=(REF,),
        aspect_ratio="21:9",
        image_size="4K",
    )
    result = await client.generate(gateway_for("google"), request)
    assert result.images[0].data == PNG
    (sent,) = fake_gateway.requests
    assert sent.path == "/v1beta/models/google/gemini-3-pro-image:generateContent"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.json["generationConfig"] == {
        "responseModalities": ["TEXT", "IMAGE"],
        "imageConfig": {"aspectRatio": "21:9", "imageSize": "4K"},
    }
    assert sent.images == [JPEG]


async def test_google_dialect_with_bare_host_base(client, fake_gateway):
    gateway = GatewayConfig(base_url=fake_gateway.root_url, api_key=API_KEY, dialect="google")
    await client.generate(gateway, ImageRequest(model="m", prompt="p"))
    assert fake_gateway.requests[0].path == "/v1beta/models/m:generateContent"


@pytest.mark.parametrize(
    "body",
    [
        markdown_response([PNG]),
        parts_response([PNG]),
        images_response([PNG]),
        google_response([PNG]),
    ],
    ids=["markdown", "parts", "images", "native"],
)
async def test_every_shape_whatever_the_dialect(client, gateway_for, fake_gateway, body):
    fake_gateway.script(Reply(body=body))
    result = await client.generate(gateway_for("plain"), ImageRequest(model="m", prompt="p"))
    assert result.images[0].data == PNG


async def test_thought_signature_replays_into_the_next_request_without_thought_images(
    client, gateway_for, fake_gateway
):
    thought = png_bytes(2, 2)
    first = google_response(
        [PNG], "Drawn.", thought_images=[thought], thought_signature=["sigA==", "sigB=="]
    )
    fake_gateway.script(Reply(body=first), Reply(body=google_response([JPEG])))
    gateway = gateway_for("google")
    result = await client.generate(gateway, ImageRequest(model="m", prompt="draw", images=(REF,)))
    # What a store would keep: the turn with references, and the blobs.
    assert "$blob" in str(result.raw_turn) and base64.b64encode(PNG).decode() not in str(
        result.raw_turn
    )
    model_turn = restore_inline_data(result.raw_turn, dict(result.blobs))
    turn = HistoryTurn(
        prompt="draw", inputs=(REF,), outputs=(REF,), model_text=result.text, model_turn=model_turn
    )
    await client.generate(gateway, ImageRequest(model="m", prompt="make it blue", history=(turn,)))
    replayed = fake_gateway.requests[1].json["contents"]
    assert replayed[0] == fake_gateway.requests[0].json["contents"][0]
    # Issue 16: every part but the thought image (the first part), signatures included.
    content = first["candidates"][0]["content"]
    assert content["parts"][0]["thought"] is True
    assert replayed[1] == {**content, "parts": content["parts"][1:]}
    assert base64.b64encode(thought).decode() not in fake_gateway.requests[1].body.decode()
    assert replayed[2] == {"role": "user", "parts": [{"text": "make it blue"}]}


async def test_retry_after_is_honoured_then_success(client, gateway_for, fake_gateway):
    fake_gateway.script(
        Reply(
            status=429, body=openai_error("slow down", code=429), headers={"Retry-After": "0.01"}
        ),
        Reply(status=503, body=google_error(503, "overloaded", "UNAVAILABLE")),
        Reply(body=markdown_response([PNG])),
    )
    result = await client.generate(gateway_for("auto", max_retries=2), REQUEST)
    assert result.images[0].data == PNG
    assert len(fake_gateway.requests) == 3
    assert fake_gateway.requests[0].body == fake_gateway.requests[2].body


async def test_retry_after_too_long_is_reported_not_waited(make_client, gateway_for, fake_gateway):
    fake_gateway.script(
        Reply(status=429, body=google_error(429, "quota", "RESOURCE_EXHAUSTED", [retry_info(120)]))
    )
    with pytest.raises(GatewayRateLimited) as info:
        await make_client(max_retry_wait=5).generate(gateway_for("google"), REQUEST)
    assert info.value.retry_after == 120
    assert "120 seconds" in str(info.value)
    assert len(fake_gateway.requests) == 1


async def test_5xx_retries_are_bounded(client, gateway_for, fake_gateway):
    fake_gateway.script(
        *[Reply(status=500, body="<html>oops</html>", content_type="text/html")] * 5
    )
    with pytest.raises(GatewayUnavailable):
        await client.generate(gateway_for("auto", max_retries=2), REQUEST)
    assert len(fake_gateway.requests) == 3
    assert fake_gateway.pending == 2


async def test_200_with_choice_error_is_retried(client, gateway_for, fake_gateway):
    fake_gateway.script(
        Reply(body=choice_error("Provider returned error", 502)), Reply(body=images_response([PNG]))
    )
    assert (await client.generate(gateway_for("openrouter"), REQUEST)).images


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (
            Reply(status=401, body=openai_error("Invalid API key", code="invalid_api_key")),
            GatewayAuthError,
        ),
        (Reply(status=400, body=openai_error("Invalid aspect ratio 7:3")), GatewayRejected),
        (
            Reply(
                status=403,
                body={
                    "error": {
                        "code": 403,
                        "message": "flagged",
                        "metadata": {"reasons": ["sexual"]},
                    }
                },
            ),
            ContentBlocked,
        ),
        (Reply(body=google_response([], finish_reason="IMAGE_SAFETY")), ContentBlocked),
        (Reply(status=413, body="Payload Too Large"), RequestTooLarge),
    ],
)
async def test_never_retried(client, gateway_for, fake_gateway, reply, error):
    fake_gateway.script(reply, Reply(body=markdown_response([PNG])))
    with pytest.raises(error):
        await client.generate(gateway_for("auto"), REQUEST)
    assert len(fake_gateway.requests) == 1


async def test_wrong_key_against_the_fake_is_auth_error(client, fake_gateway):
    gateway = GatewayConfig(base_url=fake_gateway.base_url, api_key="sk-wrong-key-123456")
    with pytest.raises(GatewayAuthError):
        await client.generate(gateway, REQUEST)
    assert len(fake_gateway.requests) == 1


async def test_timeout(client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(delay=30, body=markdown_response([PNG])))
    with pytest.raises(GatewayTimeout):
        await client.generate(gateway_for("auto", timeout=0.2, max_retries=0), REQUEST)


async def test_timeout_is_retried(client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(delay=30), Reply(body=markdown_response([PNG])))
    # The first attempt stalls far past the timeout; the retry has the whole timeout to answer.
    result = await client.generate(gateway_for("auto", timeout=5.0, max_retries=1), REQUEST)
    assert result.images and len(fake_gateway.requests) == 2


async def test_oversize_response_abandoned_while_streaming(make_client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(stream=1024 * 1024 * 1024, chunk=256 * 1024))
    client = make_client(max_response_bytes=2 * 1024 * 1024)
    with pytest.raises(ResponseTooLarge):
        await client.generate(gateway_for("auto", max_retries=0), REQUEST)
    (stream,) = fake_gateway.streams
    await stream.done.wait()
    assert stream.aborted
    assert stream.sent < stream.total // 10


async def test_declared_oversize_refused_before_reading(make_client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(body=markdown_response([png_bytes(300, 300)])))
    with pytest.raises(ResponseTooLarge):
        await make_client(max_response_bytes=500).generate(
            gateway_for("auto", max_retries=0), REQUEST
        )


async def test_hosted_image_is_downloaded_without_the_key_on_a_foreign_host(
    client, gateway_for, fake_gateway
):
    async with FakeGateway() as cdn:
        url = cdn.host_image(JPEG)
        fake_gateway.script(Reply(body=markdown_response([url, PNG], "two")))
        result = await client.generate(gateway_for("auto"), REQUEST)
    assert [i.data for i in result.images] == [PNG, JPEG]
    (download,) = cdn.requests
    assert download.method == "GET" and "authorization" not in download.headers


async def test_hosted_image_on_the_gateway_itself_gets_the_key(client, gateway_for, fake_gateway):
    url = fake_gateway.host_image(PNG)
    fake_gateway.script(Reply(body=images_response([url])))
    result = await client.generate(gateway_for("auto"), REQUEST)
    assert result.images[0].data == PNG
    assert fake_gateway.requests[1].headers["authorization"] == f"Bearer {API_KEY}"


async def test_hosted_image_broken_link(client, gateway_for, fake_gateway):
    url = fake_gateway.host_image(PNG, status=404)
    fake_gateway.script(Reply(body=images_response([url])))
    with pytest.raises(MalformedResponse, match="404"):
        await client.generate(gateway_for("auto"), REQUEST)


async def test_request_too_large_shrinks_images_first(make_client, gateway_for, fake_gateway):
    from tests.imaging import make_photo_like

    photo = make_photo_like(640, 480, seed=3)
    big = InputImage(photo, "image/jpeg", 640, 480)
    client = make_client(max_request_bytes=len(photo) // 2)
    await client.generate(gateway_for("auto"), ImageRequest(model="m", prompt="p", images=(big,)))
    (sent,) = fake_gateway.requests
    assert len(sent.body) <= len(photo) // 2
    assert len(sent.images) == 1 and len(sent.images[0]) < len(photo)


async def test_request_too_large_without_images(make_client, gateway_for, fake_gateway):
    with pytest.raises(RequestTooLarge):
        await make_client(max_request_bytes=100).generate(
            gateway_for("auto"), ImageRequest(model="m", prompt="p" * 200)
        )
    assert fake_gateway.requests == []


async def test_prepare_images_refuses_non_images_before_any_request(client, fake_gateway):
    with pytest.raises(NotAnImage):
        await client.prepare_images([PNG, b"%PDF-1.7 not an image"])
    assert fake_gateway.requests == []
    (image,) = await client.prepare_images([PNG])
    assert (image.mime, image.width, image.height) == ("image/png", 10, 6)


async def test_list_models_openai_and_google_shapes(client, gateway_for, fake_gateway):
    chat = await client.list_models(gateway_for("auto"))
    google = await client.list_models(gateway_for("google"))
    assert chat == google == list(fake_gateway.models)
    assert [r.path for r in fake_gateway.requests] == ["/v1/models", "/v1beta/models"]


async def test_list_models_bad_key(client, fake_gateway):
    with pytest.raises(GatewayAuthError):
        await client.list_models(GatewayConfig(base_url=fake_gateway.base_url, api_key="nope-nope"))


async def test_wrong_base_path_says_so(client, fake_gateway):
    gateway = GatewayConfig(base_url=fake_gateway.root_url + "/api/v9", api_key=API_KEY)
    with pytest.raises(GatewayRejected, match="base URL"):
        await client.generate(gateway, REQUEST)


async def test_connection_refused_is_unavailable(client):
    gateway = GatewayConfig(base_url="http://127.0.0.1:9/v1", api_key=API_KEY, max_retries=1)
    with pytest.raises(GatewayUnavailable) as info:
        await client.generate(gateway, REQUEST)
    assert isinstance(info.value, GatewayError) and info.value.retryable


async def test_503_retry_after_is_honoured(client, gateway_for, fake_gateway):
    fake_gateway.script(
        Reply(status=503, body=openai_error("busy", code=503), headers={"Retry-After": "0.01"}),
        Reply(body=markdown_response([PNG])),
    )
    assert (await client.generate(gateway_for("auto"), REQUEST)).images
    assert len(fake_gateway.requests) == 2
