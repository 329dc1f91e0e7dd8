"""Errors in streamed answers: mid-stream, as error events, with an error status, or junk."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import (
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    MalformedResponse,
    ModelNotAvailable,
)
from bot.gateway.streams import ERROR_MIDWAY
from bot.i18n import render
from tests.gateway.test_google_streams import google_chunks
from tests.gateway.test_parsing_properties import JSON, STATUSES, check
from tests.gateway.test_streams import PNG, SSE, USAGE, b64, delta, markdown, parse, stream


def test_openrouter_mid_stream_error_after_content():
    error = {"code": 400, "message": "Invalid image_config.aspect_ratio 7:3 for this model"}
    body = stream(
        delta(role="assistant", content="Drawing"),
        {**delta(content="", finish="error"), "error": error},
    )
    with pytest.raises(GatewayRejected) as info:
        parse(body)
    assert str(info.value) == (
        "The image service did not accept the request (HTTP 400). The service said: "
        "Invalid image_config.aspect_ratio 7:3 for this model."
    )


@pytest.mark.parametrize("junk", [True, 7, "x", {"0": {}}])
def test_a_chunk_whose_choices_are_not_a_list_is_skipped(junk):
    # Found by the any-stream property: {"choices": true} raised a TypeError.
    body = stream(delta(role="assistant", content=markdown(PNG)), {"choices": junk}, USAGE)
    parsed = parse(body)
    assert [image.data for image in parsed.result.images] == [PNG]
    with pytest.raises(MalformedResponse):
        parse(stream({"choices": junk}))


def test_mid_stream_server_error_goes_through_the_error_map():
    # The shape of OpenRouter's "Handling Errors During Streaming" example.
    error = {"code": "server_error", "message": "Provider disconnected unexpectedly"}
    body = stream(delta(content="Hi"), {**delta(finish="error"), "error": error})
    with pytest.raises(GatewayUnavailable) as info:
        parse(body)
    assert str(info.value) == (
        "The image service is down or overloaded right now (HTTP 500). Try again in a minute. "
        "The service said: Provider disconnected unexpectedly."
    )
    assert info.value.retryable


def test_choice_error_mid_stream_names_the_model():
    error = {"code": 404, "message": "No endpoints found for google/nope"}
    body = stream(delta(content="x"), {"choices": [{"index": 0, "error": error, "delta": {}}]})
    with pytest.raises(ModelNotAvailable) as info:
        parse(body, model="google/nope")
    assert "No endpoints found for google/nope" in str(info.value)


@pytest.mark.parametrize(
    ("event", "error", "sentence"),
    [
        (
            b'event: error\ndata: {"message":"Upstream request timed out","code":504}\n\n',
            GatewayTimeout,
            "The image service took too long to answer. The service said: Upstream request "
            "timed out.",
        ),
        (
            b"event: error\ndata: upstream connection reset by peer\n\n",
            GatewayRejected,
            "The image service did not accept the request. The service said: upstream "
            "connection reset by peer.",
        ),
        (
            b'event: error\ndata: {"error":{"type":"overloaded_error","message":"Overloaded"}}\n\n',
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 529). Try again in a "
            "minute. The service said: overloaded_error: Overloaded.",
        ),
        (
            b'data: {"type":"error","message":"Internal failure in the image model","code":500}'
            b"\n\n",
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 500). Try again in a "
            "minute. The service said: Internal failure in the image model.",
        ),
    ],
)
def test_an_error_event_in_a_200_stream_is_an_error(event, error, sentence):
    body = stream(delta(role="assistant", content="Drawing"), done=False) + event
    with pytest.raises(error) as info:
        parse(body)
    assert str(info.value) == sentence


def test_finish_reason_error_without_words():
    body = stream(delta(content=markdown(PNG)), delta(finish="error"))
    with pytest.raises(GatewayUnavailable) as info:
        parse(body)
    assert str(info.value) == render(ERROR_MIDWAY)


def test_error_status_with_a_stream_body():
    body = stream({"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-min"}})
    with pytest.raises(GatewayRateLimited) as info:
        parse(body, status=429, retry_after="7")
    assert info.value.retry_after == 7
    body = stream({"error": {"message": "Image size 8K is not supported", "type": "invalid"}})
    with pytest.raises(GatewayRejected, match="Image size 8K is not supported"):
        parse(body, status=400)
    with pytest.raises(GatewayRejected, match="Image size 9K"):
        parse(b"event: error\ndata: Image size 9K is not supported\n\n", status=400)
    with pytest.raises(GatewayUnavailable):
        parse(b": nothing here\n\n", status=502)


def json_event(value: Any) -> bytes:
    try:
        return b"data: " + orjson.dumps(value) + b"\n\n"
    except (TypeError, orjson.JSONEncodeError):
        return b""  # a value JSON cannot carry (an int past 64 bits)


CHUNKS = st.sampled_from(
    [
        delta(content=markdown(PNG)),
        delta(content=markdown(PNG)[:30]),
        delta(images=[{"image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}}]),
        delta(finish="stop"),
        delta(finish="error"),
        USAGE,
        {"error": {"code": 502, "message": "upstream died"}},
        google_chunks()[0][3],
        {"promptFeedback": {"blockReason": "SAFETY"}},
        "[DONE]",
        "not json",
    ]
)
PIECES = st.sampled_from(
    [b"data: ", b"data:", b"\n", b"\r\n", b"\r", b"\n\n", b": keep-alive\n", b"event: error\n"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        CHUNKS.map(lambda c: stream(c, done=False, keepalive=False))
        | PIECES
        | JSON.map(json_event)
        | st.binary(max_size=20),
        max_size=12,
    ).map(b"".join),
    STATUSES,
)
def test_any_stream_ends_in_a_result_or_a_project_error(body, status):
    check(body, status, SSE)
