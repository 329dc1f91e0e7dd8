"""The fake gateway's own behaviour: a fake that accepts anything proves nothing."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest

from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    array_error,
    data_url,
    google_response,
    jpeg_bytes,
    png_bytes,
)

from .conftest import API_KEY

PNG = png_bytes(5, 5)
JPEG = jpeg_bytes(5, 5)
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def chat_body(*images: bytes) -> dict:
    parts = [{"type": "text", "text": "p"}] + [
        {"type": "image_url", "image_url": {"url": data_url(i)}} for i in images
    ]
    return {"model": "m", "messages": [{"role": "user", "content": parts}], "stream": False}


async def test_records_chat_request_with_decoded_images(fake_gateway, http):
    response = await http.post(
        f"{fake_gateway.base_url}/chat/completions", json=chat_body(PNG, JPEG), headers=AUTH
    )
    assert response.status_code == 200
    (recorded,) = fake_gateway.requests
    assert (recorded.method, recorded.path, recorded.model) == ("POST", "/v1/chat/completions", "m")
    assert recorded.headers["authorization"] == AUTH["Authorization"]
    assert recorded.images == [PNG, JPEG]
    assert recorded.json == chat_body(PNG, JPEG)


async def test_records_native_request_with_slash_model(fake_gateway, http):
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "p"},
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(PNG).decode(),
                        }
                    },
                ],
            }
        ]
    }
    url = f"{fake_gateway.google_base_url}/models/google/gemini-3-pro-image:generateContent"
    response = await http.post(url, json=body, headers={"x-goog-api-key": API_KEY})
    assert response.status_code == 200
    assert (
        response.json()["candidates"][0]["content"]["parts"][0]["inlineData"]["mimeType"]
        == "image/png"
    )
    (recorded,) = fake_gateway.requests
    assert recorded.model == "google/gemini-3-pro-image"
    assert recorded.images == [PNG]


async def test_default_answer_is_a_markdown_image(fake_gateway, http):
    response = await http.post(
        f"{fake_gateway.base_url}/chat/completions", json=chat_body(), headers=AUTH
    )
    content = response.json()["choices"][0]["message"]["content"]
    assert content.startswith("![image](data:image/png;base64,")
    assert (
        base64.b64decode(content[len("![image](data:image/png;base64,") : -1])
        == fake_gateway.default_image
    )


async def test_scripted_errors_come_back_with_status_headers_and_body(fake_gateway, http):
    fake_gateway.script(
        Reply(
            status=429,
            body=array_error(429, "slow", "RESOURCE_EXHAUSTED"),
            headers={"Retry-After": "7"},
        ),
        Reply(status=502, body="<html>bad gateway</html>", content_type="text/html"),
    )
    first = await http.post(
        f"{fake_gateway.base_url}/chat/completions", json=chat_body(), headers=AUTH
    )
    assert first.status_code == 429
    assert first.headers["retry-after"] == "7"
    assert first.json() == array_error(429, "slow", "RESOURCE_EXHAUSTED")
    second = await http.post(
        f"{fake_gateway.base_url}/chat/completions", json=chat_body(), headers=AUTH
    )
    assert (second.status_code, second.headers["content-type"].split(";")[0]) == (502, "text/html")
    assert fake_gateway.pending == 0


async def test_callable_script_sees_the_request(fake_gateway, http):
    fake_gateway.script(lambda req: Reply(body=google_response(req.images)))
    body = {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "image/jpeg",
                            "data": base64.b64encode(JPEG).decode(),
                        }
                    }
                ],
            }
        ]
    }
    response = await http.post(
        f"{fake_gateway.google_base_url}/models/m:generateContent", json=body, headers=AUTH
    )
    part = response.json()["candidates"][0]["content"]["parts"][0]
    assert base64.b64decode(part["inlineData"]["data"]) == JPEG


@pytest.mark.parametrize(
    ("path", "kwargs", "status"),
    [
        ("/v1/chat/completions", {"content": b"not json", "headers": AUTH}, 400),
        ("/v1/chat/completions", {"json": {"model": "m"}, "headers": AUTH}, 400),
        ("/v1/chat/completions", {"json": chat_body()}, 401),
        (
            "/v1/chat/completions",
            {"json": chat_body(), "headers": {"Authorization": "Bearer wrong"}},
            401,
        ),
        ("/v1beta/models/m:generateContent", {"json": {"messages": []}, "headers": AUTH}, 400),
        ("/v1beta/models/m:generateContent", {"json": {"contents": []}}, 401),
        ("/v1beta/models/m:predict", {"json": {"contents": []}, "headers": AUTH}, 404),
        ("/v1/images/generations", {"json": chat_body(), "headers": AUTH}, 404),
    ],
)
async def test_refuses_what_a_real_gateway_refuses(fake_gateway, http, path, kwargs, status):
    response = await http.post(fake_gateway.root_url + path, **kwargs)
    assert response.status_code == status


async def test_hosted_images_and_model_lists(fake_gateway, http):
    url = fake_gateway.host_image(JPEG)
    response = await http.get(url)
    assert (response.content, response.headers["content-type"]) == (JPEG, "image/jpeg")
    models = await http.get(f"{fake_gateway.base_url}/models", headers=AUTH)
    assert [m["id"] for m in models.json()["data"]] == fake_gateway.models
    native = await http.get(f"{fake_gateway.google_base_url}/models", headers=AUTH)
    assert native.json()["models"][0]["name"] == f"models/{fake_gateway.models[0]}"


async def test_streamed_reply_is_complete_when_read(fake_gateway, http):
    fake_gateway.script(Reply(stream=300_000, chunk=65_536))
    response = await http.post(
        f"{fake_gateway.base_url}/chat/completions", json=chat_body(), headers=AUTH
    )
    assert len(response.content) == 300_000
    (stream,) = fake_gateway.streams
    await stream.done.wait()
    assert (stream.sent, stream.aborted) == (300_000, False)


async def test_wait_for_requests_and_delayed_reply_cut_short_on_close(http):
    fake = await FakeGateway().start()
    fake.script(Reply(delay=60))
    pending = asyncio.create_task(http.post(f"{fake.base_url}/chat/completions", json=chat_body()))
    async with asyncio.timeout(10):
        (recorded,) = await fake.wait_for_requests(1)
    assert recorded.json["model"] == "m"
    await fake.close()
    with pytest.raises(httpx.HTTPError):
        response = await pending
        response.raise_for_status()
