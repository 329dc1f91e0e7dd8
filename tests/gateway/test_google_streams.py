"""Google's streamed answers (``streamGenerateContent``): SSE chunks or one JSON array."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bot.errors import (
    ContentBlocked,
    GatewayRejected,
)
from bot.gateway.sse import decode_events
from bot.gateway.streams import assemble
from bot.gateway.turns import restore_inline_data
from tests.fakes.gateway import png_bytes
from tests.gateway.test_streams import PNG, SSE, b64, parse, stream


def test_a_google_stream_may_start_with_its_envelope():
    parts = [{"inlineData": {"mimeType": "image/png", "data": b64(PNG)}}]
    body = stream(
        {"responseId": "r-1", "modelVersion": "gemini-3-pro-image-preview"},
        {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]},
        keepalive=False,
        done=False,
    )
    result = parse(body).result
    assert [image.data for image in result.images] == [PNG]
    assert result.model == "gemini-3-pro-image-preview"


def google_chunks() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    thought = png_bytes(3, 3, (9, 9, 9))
    parts = [
        {"text": "Planning the composition", "thought": True},
        {"inlineData": {"mimeType": "image/png", "data": b64(thought)}, "thought": True},
        {"text": "Here is your robot."},
        {"inlineData": {"mimeType": "image/png", "data": b64(PNG)}, "thoughtSignature": "sig-A"},
        {"text": "", "thoughtSignature": "sig-B"},
    ]
    chunks = [
        {
            "candidates": [{"content": {"role": "model", "parts": [part]}, "index": 0}],
            "modelVersion": "gemini-3-pro-image-preview",
            "responseId": "r1",
        }
        for part in parts
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    chunks[-1]["usageMetadata"] = {
        "promptTokenCount": 18,
        "candidatesTokenCount": 1290,
        "thoughtsTokenCount": 10,
        "totalTokenCount": 1318,
    }
    return chunks, parts


def test_google_stream_keeps_every_part_and_signature_but_the_thought_image():
    chunks, parts = google_chunks()
    result = parse(stream(*chunks, done=False, keepalive=False), SSE).result
    assert [i.data for i in result.images] == [PNG]  # the thought image is no result
    assert result.text == "Here is your robot."
    assert result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (18, 1300)
    assert result.model == "gemini-3-pro-image-preview"
    turn = restore_inline_data(result.raw_turn, result.blobs)
    # Issue 16: the thought image is neither stored nor replayed; the rest is verbatim.
    assert turn == {"role": "model", "parts": [parts[0], *parts[2:]]}
    assert list(result.blobs.values()) == [PNG]
    assert [p.get("thoughtSignature") for p in turn["parts"]][-2:] == ["sig-A", "sig-B"]


def test_google_stream_as_a_json_array():
    chunks, parts = google_chunks()
    result = parse(orjson.dumps(chunks), "application/json").result
    assert [i.data for i in result.images] == [PNG]
    stored = restore_inline_data(result.raw_turn, result.blobs)["parts"]
    assert stored == [parts[0], *parts[2:]]  # issue 16: the thought image is not kept


def test_google_stream_candidates_and_late_usage_chunk():
    body = stream(
        {"candidates": [{"index": 1, "content": {"role": "model", "parts": [{"text": "b"}]}}]},
        {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": "a"}]}}]},
        {
            "candidates": [
                {
                    "index": 0,
                    "content": {
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": b64(PNG)}}]
                    },
                    "finishReason": "STOP",
                }
            ]
        },
        {"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 9}},
        done=False,
    )
    payload = assemble(decode_events(body))
    assert [[p.get("text") for p in c["content"]["parts"]] for c in payload["candidates"]] == [
        ["b"],
        ["a", None],
    ]
    assert payload["usageMetadata"] == {"promptTokenCount": 3, "totalTokenCount": 9}
    assert parse(body).result.usage.total_tokens == 9


def test_google_stream_blocked_prompt_and_error_chunk():
    blocked = stream({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, done=False)
    with pytest.raises(ContentBlocked) as info:
        parse(blocked)
    assert info.value.reason == "PROHIBITED_CONTENT"
    error = {
        "code": 400,
        "message": "Image part is missing a thought_signature",
        "status": "INVALID_ARGUMENT",
    }
    failing = stream(google_chunks()[0][0], {"error": error}, done=False)
    with pytest.raises(GatewayRejected, match="missing a thought_signature"):
        parse(failing)
