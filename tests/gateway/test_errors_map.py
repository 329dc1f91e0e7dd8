"""Status and error-body mapping to the project's errors, in the one place it happens."""

from __future__ import annotations

import email.utils
import time

import pytest

from bot.errors import (
    ContentBlocked,
    GatewayAuthError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    ModelNotAvailable,
    PaymentRequired,
    RequestTooLarge,
)
from bot.gateway.error_body import find_error
from bot.gateway.errors_map import map_error, parse_retry_after


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (401, None, GatewayAuthError),
        (403, {"message": "Forbidden"}, GatewayAuthError),
        (
            400,
            {
                "code": 400,
                "message": "API key not valid. Please pass a valid API key.",
                "status": "INVALID_ARGUMENT",
                "details": [{"reason": "API_KEY_INVALID"}],
            },
            GatewayAuthError,
        ),
        (402, {"message": "Insufficient credits"}, PaymentRequired),
        (
            429,
            {"message": "You exceeded your current quota", "code": "insufficient_quota"},
            PaymentRequired,
        ),
        (403, {"message": "Insufficient balance"}, PaymentRequired),
        (404, {"message": "Not found"}, ModelNotAvailable),
        (400, {"message": "Model gemini-9 does not exist"}, ModelNotAvailable),
        (
            403,
            {"message": "The model google/gemini-3-pro-image is not allowed for this key"},
            ModelNotAvailable,
        ),
        (
            503,
            {"message": "No available channels for model gemini-x under group default"},
            GatewayUnavailable,
        ),
        (429, None, GatewayRateLimited),
        (500, None, GatewayUnavailable),
        (502, None, GatewayUnavailable),
        (529, {"type": "overloaded_error", "message": "Overloaded"}, GatewayUnavailable),
        (200, {"type": "overloaded_error", "message": "Overloaded"}, GatewayUnavailable),
        (408, None, GatewayTimeout),
        (504, None, GatewayTimeout),
        (200, {"code": 504, "message": "Gateway timeout"}, GatewayTimeout),
        (200, {"status": "DEADLINE_EXCEEDED", "message": "Deadline"}, GatewayTimeout),
        (413, None, RequestTooLarge),
        (422, {"message": "Unprocessable"}, GatewayRejected),
        (400, {"message": "Invalid aspect ratio"}, GatewayRejected),
        (200, "something odd happened", GatewayRejected),
        (403, {"message": "flagged", "metadata": {"reasons": ["violence"]}}, ContentBlocked),
    ],
)
def test_mapping(status, error, expected):
    assert type(map_error(status, error)) is expected


def test_status_name_decides_when_status_is_200():
    assert isinstance(
        map_error(200, {"code": 429, "message": "x", "status": "RESOURCE_EXHAUSTED"}),
        GatewayRateLimited,
    )
    assert isinstance(
        map_error(200, {"message": "x", "status": "UNAUTHENTICATED"}), GatewayAuthError
    )


def test_404_without_json_points_at_the_url():
    exc = map_error(404, None, is_json=False)
    assert isinstance(exc, GatewayRejected) and "base URL" in str(exc)


def test_model_named_in_message():
    exc = map_error(404, {"message": "models/foo is not found"}, model="foo-image")
    assert "foo-image" in str(exc) and "not found" in str(exc)


def test_rejected_message_shows_short_gateway_words():
    assert "Invalid aspect ratio 7:3" in str(
        map_error(400, {"message": "Invalid aspect ratio 7:3"})
    )
    long = map_error(400, {"message": "x " * 500})
    assert len(str(long)) < 320


def test_find_error_shapes():
    assert find_error({"error": {"message": "a"}}) == {"message": "a"}
    assert find_error([{"error": {"message": "b"}}]) == {"message": "b"}
    assert find_error({"choices": [{"error": {"message": "c"}, "finish_reason": "error"}]}) == {
        "message": "c"
    }
    assert find_error({"choices": [{"message": {}}]}) is None
    assert find_error({"error": None, "choices": []}) is None


def test_retry_after_values():
    assert parse_retry_after("3") == 3
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after("-4") == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None
    later = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(later) <= 31


def test_rate_limit_carries_wait():
    exc = map_error(429, {"details": [{"retryDelay": "27s"}]})
    assert exc.retry_after == 27 and "27 seconds" in str(exc)
    assert map_error(429, None, retry_after="2").retry_after == 2
