"""What each dialect puts on the wire: URL, headers and body, field by field."""

from __future__ import annotations

import base64

import orjson
import pytest

from bot.gateway.dialects import (
    IMAGE_PLACEHOLDER,
    auth_headers,
    build_request,
    chat_base,
    get_dialect,
    google_base,
    sends_size_fields,
)
from bot.types import DIALECTS, GatewayConfig, HistoryTurn, ImageRequest, InputImage
from tests.fakes.gateway import jpeg_bytes, png_bytes

from .conftest import API_KEY

PNG = png_bytes(4, 4)
JPEG = jpeg_bytes(4, 4)
IMAGES = (InputImage(PNG, "image/png", 4, 4), InputImage(JPEG, "image/jpeg", 4, 4))
FULL = ImageRequest(
    model="gemini-3-pro-image-preview",
    prompt="a banana robot",
    images=IMAGES,
    aspect_ratio="16:9",
    image_size="2K",
    temperature=0.7,
    max_tokens=4096,
)


def body_of(dialect: str, request: ImageRequest = FULL, **kw) -> dict:
    gateway = GatewayConfig(base_url="https://gw.example/v1", api_key="", dialect=dialect, **kw)
    return orjson.loads(build_request(gateway, request).body)


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


EXPECTED_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "a banana robot"},
            {"type": "image_url", "image_url": {"url": data_url(PNG, "image/png")}},
            {"type": "image_url", "image_url": {"url": data_url(JPEG, "image/jpeg")}},
        ],
    }
]
CHAT_COMMON = {
    "model": "gemini-3-pro-image-preview",
    "messages": EXPECTED_MESSAGES,
    "stream": False,
    "temperature": 0.7,
    "max_tokens": 4096,
}


def test_openrouter_body():
    assert body_of("openrouter") == {
        **CHAT_COMMON,
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
    }


def test_flat_body():
    assert body_of("flat") == {**CHAT_COMMON, "aspect_ratio": "16:9", "image_size": "2K"}


def test_plain_body_has_only_standard_fields():
    assert body_of("plain") == CHAT_COMMON


@pytest.mark.parametrize("dialect", DIALECTS)
def test_sends_size_fields_says_whether_the_ask_is_on_the_wire(dialect):
    # The delivered-size check trusts this: a gateway is only blamed for what it was sent.
    wire = orjson.dumps(body_of(dialect)).decode()
    on_wire = '"16:9"' in wire and '"2K"' in wire
    assert get_dialect(dialect).sends_size_fields is on_wire
    assert sends_size_fields(dialect) is on_wire
    assert on_wire is (dialect != "plain")


def test_auto_body_carries_openrouter_and_flat_fields():
    assert body_of("auto") == {
        **CHAT_COMMON,
        "modalities": ["image", "text"],
        "image_config": {"aspect_ratio": "16:9", "image_size": "2K"},
        "aspect_ratio": "16:9",
        "image_size": "2K",
    }


def test_google_body():
    assert body_of("google") == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "a banana robot"},
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(PNG).decode(),
                        }
                    },
                    {
                        "inlineData": {
                            "mimeType": "image/jpeg",
                            "data": base64.b64encode(JPEG).decode(),
                        }
                    },
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"},
            "temperature": 0.7,
            "maxOutputTokens": 4096,
        },
    }


@pytest.mark.parametrize("dialect", ["auto", "openrouter", "flat", "plain"])
def test_minimal_chat_request_sends_prompt_as_string_and_no_optional_fields(dialect):
    body = body_of(dialect, ImageRequest(model="m", prompt="a cat"))
    expected = {"model": "m", "messages": [{"role": "user", "content": "a cat"}], "stream": False}
    if dialect in ("auto", "openrouter"):
        expected["modalities"] = ["image", "text"]  # seed 002: required even without image_config
    assert body == expected


def test_minimal_google_request():
    assert body_of("google", ImageRequest(model="m", prompt="a cat")) == {
        "contents": [{"role": "user", "parts": [{"text": "a cat"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]},
    }


@pytest.mark.parametrize(
    ("dialect", "base", "model", "url"),
    [
        ("auto", "https://h.example/v1", "m", "https://h.example/v1/chat/completions"),
        ("plain", "https://h.example/v1/", "m", "https://h.example/v1/chat/completions"),
        ("flat", "https://h.example", "m", "https://h.example/v1/chat/completions"),
        (
            "openrouter",
            "https://h.example/api/v1",
            "m",
            "https://h.example/api/v1/chat/completions",
        ),
        (
            "auto",
            "https://h.example/v1/chat/completions",
            "m",
            "https://h.example/v1/chat/completions",
        ),
        (
            "google",
            "https://h.example/v1beta",
            "gemini-3-pro-image-preview",
            "https://h.example/v1beta/models/gemini-3-pro-image-preview:generateContent",
        ),
        (
            "google",
            "https://h.example",
            "google/gemini-3-pro-image",
            "https://h.example/v1beta/models/google/gemini-3-pro-image:generateContent",
        ),
        (
            "google",
            "https://h.example/v1",
            "models/gemini-2.5-flash-image",
            "https://h.example/v1beta/models/gemini-2.5-flash-image:generateContent",
        ),
        (
            "google",
            "https://h.example/proxy/v1beta/",
            "m",
            "https://h.example/proxy/v1beta/models/m:generateContent",
        ),
    ],
)
def test_urls(dialect, base, model, url):
    gateway = GatewayConfig(base_url=base, api_key="", dialect=dialect)
    assert build_request(gateway, ImageRequest(model=model, prompt="p")).url == url


def test_model_list_bases():
    assert chat_base("https://h.example") == "https://h.example/v1"
    assert google_base("https://h.example/v1") == "https://h.example/v1beta"


def test_extra_headers_and_body_pass_through_untouched():
    gateway = GatewayConfig(
        base_url="https://h.example/v1",
        api_key="",
        dialect="flat",
        extra_headers={"X-Title": "imagine-bot", "HTTP-Referer": "https://example.org"},
        extra_body={"top_k": 40, "provider": {"order": ["google"]}, "image_size": "4K"},
    )
    prepared = build_request(gateway, ImageRequest(model="m", prompt="p", image_size="1K"))
    assert prepared.headers["X-Title"] == "imagine-bot"
    assert prepared.headers["HTTP-Referer"] == "https://example.org"
    body = orjson.loads(prepared.body)
    assert body["top_k"] == 40
    assert body["provider"] == {"order": ["google"]}
    assert body["image_size"] == "4K"  # extra_body wins: the operator knows their gateway


def test_prepared_request_never_holds_the_key():
    gateway = GatewayConfig(base_url="https://h.example/v1", api_key=API_KEY, dialect="google")
    prepared = build_request(gateway, FULL)
    assert API_KEY not in repr(prepared.headers)
    assert API_KEY.encode() not in prepared.body


def test_auth_headers_per_dialect_and_override():
    chat = GatewayConfig(base_url="https://h/v1", api_key="k1", dialect="auto")
    assert auth_headers(chat, {})["Authorization"] == "Bearer k1"
    assert "x-goog-api-key" not in auth_headers(chat, {})
    google = GatewayConfig(base_url="https://h/v1beta", api_key="k2", dialect="google")
    assert auth_headers(google, {}) == {"x-goog-api-key": "k2", "Authorization": "Bearer k2"}
    # An operator's own Authorization header (another scheme) is kept as given.
    assert auth_headers(chat, {"authorization": "Token abc"}) == {"authorization": "Token abc"}


HISTORY = (
    HistoryTurn(
        prompt="draw a cat",
        inputs=(IMAGES[1],),
        outputs=(IMAGES[0],),
        model_text="Here is your cat.",
        model_turn={
            "role": "model",
            "parts": [
                {"text": "Here is your cat.", "thoughtSignature": "c2lnLTE="},
                {
                    "inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()},
                    "thoughtSignature": "c2lnLTI=",
                },
            ],
        },
    ),
    HistoryTurn(prompt="make it blue", outputs=(IMAGES[0],)),
)


def test_google_replays_history_verbatim():
    request = ImageRequest(model="m", prompt="now add a hat", images=(), history=HISTORY)
    contents = body_of("google", request)["contents"]
    assert contents[0] == {
        "role": "user",
        "parts": [
            {"text": "draw a cat"},
            {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}},
        ],
    }
    assert contents[1] == HISTORY[0].model_turn
    assert contents[2] == {"role": "user", "parts": [{"text": "make it blue"}]}
    # No stored turn: rebuilt from the outputs, without signatures.
    assert contents[3] == {
        "role": "model",
        "parts": [
            {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
        ],
    }
    assert contents[4] == {"role": "user", "parts": [{"text": "now add a hat"}]}


def test_chat_replays_history_as_text():
    request = ImageRequest(model="m", prompt="now add a hat", images=(IMAGES[0],), history=HISTORY)
    messages = body_of("plain", request)["messages"]
    assert messages[:4] == [
        {"role": "user", "content": "draw a cat"},
        {"role": "assistant", "content": "Here is your cat."},
        {"role": "user", "content": "make it blue"},
        {"role": "assistant", "content": IMAGE_PLACEHOLDER},
    ]
    assert messages[4]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": data_url(PNG, "image/png")},
    }


def test_model_turn_from_a_read_only_mapping_serialises():
    from types import MappingProxyType

    turn = HistoryTurn(prompt="p", model_turn=MappingProxyType({"parts": [{"text": "t"}]}))
    contents = body_of("google", ImageRequest(model="m", prompt="q", history=(turn,)))["contents"]
    assert contents[1] == {"role": "model", "parts": [{"text": "t"}]}


CHAT_DIALECTS = ("auto", "openrouter", "flat", "plain")


@pytest.mark.parametrize("mode", ["auto", "on", "off"])
@pytest.mark.parametrize("dialect", CHAT_DIALECTS)
def test_chat_stream_mode_sets_only_the_stream_field(dialect, mode):
    streamed = body_of(dialect, stream=mode)
    # Only the flag changes: no stream_options, which strict gateways reject.
    assert streamed == {**body_of(dialect), "stream": mode == "on"}
    assert "stream_options" not in streamed
    gateway = GatewayConfig(
        base_url="https://h.example/v1", api_key="", dialect=dialect, stream=mode
    )
    assert build_request(gateway, FULL).url == "https://h.example/v1/chat/completions"


@pytest.mark.parametrize(
    ("mode", "method"),
    [
        ("auto", ":generateContent"),
        ("off", ":generateContent"),
        ("on", ":streamGenerateContent?alt=sse"),
    ],
)
def test_google_streams_by_url_and_keeps_the_body(mode, method):
    gateway = GatewayConfig(
        base_url="https://h.example/v1beta", api_key="", dialect="google", stream=mode
    )
    prepared = build_request(gateway, FULL)
    assert prepared.url == f"https://h.example/v1beta/models/gemini-3-pro-image-preview{method}"
    assert orjson.loads(prepared.body) == body_of("google")


def test_unknown_stream_mode_is_refused():
    with pytest.raises(ValueError, match="stream mode"):
        GatewayConfig(base_url="https://h.example/v1", api_key="", stream="yes")
