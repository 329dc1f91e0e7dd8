"""Property tests: any body, JSON or not, ends in a result or one of the project's errors."""

from __future__ import annotations

import base64
import pickle

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.errors import ImagineError
from bot.gateway.errors_map import map_error
from bot.gateway.parsing import ParsedResponse, parse_response
from tests.fakes.gateway import jpeg_bytes, png_bytes

PNG = png_bytes(3, 3)
JPEG = jpeg_bytes(3, 3)
KEYS = [
    "choices",
    "message",
    "content",
    "images",
    "image_url",
    "url",
    "type",
    "text",
    "candidates",
    "parts",
    "inlineData",
    "inline_data",
    "data",
    "mimeType",
    "error",
    "finish_reason",
    "finishReason",
    "native_finish_reason",
    "promptFeedback",
    "blockReason",
    "usage",
    "usageMetadata",
    "code",
    "status",
    "message",
    "metadata",
    "reasons",
    "details",
    "retryDelay",
    "b64_json",
    "thought",
    "refusal",
    "prompt_tokens",
    "promptTokenCount",
    "fileData",
    "fileUri",
    "delta",
    "detail",
    "model",
    "$blob",
]
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats()
    | st.text(max_size=40)
    | st.sampled_from(
        [
            f"data:image/png;base64,{base64.b64encode(PNG).decode()}",
            f"![x](data:image/jpeg;base64,{base64.b64encode(JPEG).decode()}) hi",
            base64.b64encode(PNG).decode(),
            base64.b64encode(PNG[:40]).decode(),
            "data:image/png;base64,!!!",
            "data:text/plain,hello",
            "https://cdn.example/a.png",
            "http://[::1",
            "![a](https://x.example/b.png)",
            "SAFETY",
            "STOP",
            "content_filter",
            "27s",
            "NO_IMAGE",
            "RESOURCE_EXHAUSTED",
            "image_url",
            "text",
            "$blob:" + "a" * 64,
        ]
    )
)
JSON = st.recursive(
    LEAVES,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), children, max_size=5)
    ),
    max_leaves=40,
)
STATUSES = st.sampled_from(
    [200, 201, 204, 301, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 500, 503, 529]
) | st.integers(100, 599)
CONTENT_TYPES = st.sampled_from(
    [None, "application/json", "text/html", "image/png", "text/plain", ""]
)


def check(body: bytes, status: int, content_type: str | None) -> None:
    try:
        result = parse_response(body, status, content_type, retry_after="1", model="m")
    except ImagineError as exc:
        assert str(exc)
        pickle.loads(pickle.dumps(exc))  # it must cross back from the worker process
        return
    assert isinstance(result, ParsedResponse)
    assert result.result.images or result.image_urls
    assert all(i.mime.startswith("image/") and i.width > 0 for i in result.result.images)
    pickle.loads(pickle.dumps(result))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON, STATUSES, CONTENT_TYPES)
def test_any_json_body(payload, status, content_type):
    try:
        body = orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return
    check(body, status, content_type)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=300)
    | st.sampled_from([PNG, JPEG, PNG[:30], b"<html>502</html>", b"\xef\xbb\xbf{}"]),
    STATUSES,
    CONTENT_TYPES,
)
def test_any_bytes_body(body, status, content_type):
    check(body, status, content_type)


@settings(max_examples=300, deadline=None)
@given(JSON, STATUSES, st.booleans(), st.none() | st.text(max_size=20))
def test_error_mapper_always_answers_with_a_project_error(error, status, is_json, retry_after):
    exc = map_error(status, error, is_json=is_json, retry_after=retry_after, model="m")
    assert isinstance(exc, ImagineError) and str(exc)


def test_deeply_nested_json_is_an_error_not_a_crash():
    body = b'{"choices": [{"message": {"content": ' + b"[" * 5000 + b"]" * 5000 + b"}}]}"
    check(body, 200, "application/json")
    deep = (
        b'{"candidates": [{"content": {"parts": [], "x": '
        + b'{"a":' * 900
        + b"1"
        + b"}" * 900
        + b"}}]}"
    )
    check(deep, 200, "application/json")
