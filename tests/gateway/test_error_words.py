"""The gateway's own words in every error sentence: cut, cleaned, never a secret."""

from __future__ import annotations

import pytest

from bot.errors import (
    ContentBlocked,
    GatewayAuthError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    PaymentRequired,
    RequestTooLarge,
)
from bot.gateway.error_body import body_error, find_error
from bot.gateway.error_words import MAX_DETAIL_CHARS, safe_detail
from bot.gateway.errors_map import map_error
from bot.secrets import scrub_error

REJECTED = "The image service did not accept the request (HTTP 400)."


@pytest.mark.parametrize(
    "secret",
    [
        "sk-abcdef1234567890",
        "AIzaSyA1234567890abcdefghijk",
        "Bearer abc.def",
        "key=hunter2hunter2",
        "0123456789abcdef0123456789abcdef",
    ],
)
def test_safe_detail_redacts_key_like_strings(secret):
    assert secret not in safe_detail(f"Request failed for {secret} today")


def test_safe_detail_drops_markup_and_control_characters():
    assert safe_detail("<html><body>Bad</body></html>") == ""
    assert safe_detail("line\x00one\nline two") == "line one line two"


RAW_THOUGHT = (
    '{"error":{"code":400,"message":"Image part is missing a thought_signature",'
    '"status":"INVALID_ARGUMENT"}}'
)


@pytest.mark.parametrize(
    ("status", "error", "kind", "sentence"),
    [
        (
            200,
            {
                "code": "BALANCE-LOW",
                "message": "your balance is too low",
                "type": "insufficient_quota",
            },
            PaymentRequired,
            "The image service account is out of credit. "
            "The service said: BALANCE-LOW: your balance is too low.",
        ),
        (
            401,
            {"message": "Invalid token", "type": "new_api_error", "code": "invalid_api_key"},
            GatewayAuthError,
            "The image service rejected the API key. The service said: invalid_api_key: "
            "Invalid token.",
        ),
        (
            429,
            {
                "code": 429,
                "message": "Resource has been exhausted.",
                "status": "RESOURCE_EXHAUSTED",
            },
            GatewayRateLimited,
            "The image service is rate limiting us. Try again in a moment. "
            "The service said: RESOURCE_EXHAUSTED: Resource has been exhausted.",
        ),
        (
            500,
            {"message": "empty response from Gemini API", "type": "new_api_error"},
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 500). Try again in a minute. "
            "The service said: empty response from Gemini API.",
        ),
        (
            504,
            {"message": "upstream timed out"},
            GatewayTimeout,
            "The image service took too long to answer. The service said: upstream timed out.",
        ),
        (
            413,
            {"message": "request body too large, limit 20MB", "type": "request_too_large"},
            RequestTooLarge,
            "The images together are too large to send; try fewer or smaller images. "
            "The service said: request_too_large: request body too large, limit 20MB.",
        ),
        (
            403,
            {"code": 403, "message": "Your input was flagged", "metadata": {"reasons": ["sexual"]}},
            ContentBlocked,
            "The image service blocked this request for safety reasons (sexual). "
            "The service said: Your input was flagged.",
        ),
        (
            400,
            {
                "code": 400,
                "message": "Provider returned error",
                "metadata": {"raw": RAW_THOUGHT, "provider_name": "Google AI Studio"},
            },
            GatewayRejected,
            "The image service did not accept the request (HTTP 400). The service said: "
            "INVALID_ARGUMENT: Image part is missing a thought_signature (from Google AI Studio).",
        ),
        (
            400,
            {"code": 400, "message": "Provider returned error", "metadata": {"raw": "Bad seed"}},
            GatewayRejected,
            "The image service did not accept the request (HTTP 400). The service said: Bad seed.",
        ),
        (
            200,
            {"code": 502, "message": "Provider disconnected."},  # choices[0].error / SSE event
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 502). Try again in a minute. "
            "The service said: Provider disconnected.",
        ),
        (
            422,
            {"detail": [{"loc": ["body", "prompt"], "msg": "Field required", "type": "missing"}]},
            GatewayRejected,
            "The image service did not accept the request (HTTP 422). "
            "The service said: Field required.",
        ),
    ],
    ids=[
        "200-balance",
        "401-new-api",
        "429-google",
        "500-new-api",
        "504",
        "413",
        "403-moderation",
        "400-metadata-raw-json",
        "400-metadata-raw-text",
        "choice-error",
        "fastapi-validation",
    ],
)
def test_every_error_carries_the_gateway_words(status, error, kind, sentence):
    exc = map_error(status, error)
    assert type(exc) is kind
    assert str(exc) == sentence
    assert exc.gateway_message == sentence.split("The service said: ", 1)[1]


def test_a_key_in_metadata_raw_still_classifies_as_auth():
    raw = (
        '{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.",'
        '"status":"INVALID_ARGUMENT","details":[{"reason":"API_KEY_INVALID"}]}}'
    )
    exc = map_error(
        400, {"code": 400, "message": "Provider returned error", "metadata": {"raw": raw}}
    )
    assert isinstance(exc, GatewayAuthError)
    assert exc.gateway_message == (
        "INVALID_ARGUMENT: API key not valid. Please pass a valid API key."
    )


@pytest.mark.parametrize(
    ("status", "body", "kind", "sentence"),
    [
        (
            503,
            b"upstream connect error or disconnect/reset before headers",
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 503). Try again in a minute. "
            "The service said: upstream connect error or disconnect/reset before headers.",
        ),
        (
            404,
            b"404 page not found\n",
            GatewayRejected,
            "The image service address answered 404 Not Found; check the gateway base URL. "
            "The service said: 404 page not found.",
        ),
        (
            502,
            b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>",
            GatewayUnavailable,
            "The image service is down or overloaded right now (HTTP 502). Try again in a minute. "
            "The service sent an HTML error page titled \u201c502 Bad Gateway\u201d.",
        ),
        (
            401,
            b"<!DOCTYPE html><html><body>Unauthorized, sign in</body></html>",
            GatewayAuthError,
            "The image service rejected the API key. "
            "The service sent an HTML error page (perhaps a proxy's).",
        ),
    ],
    ids=["envoy-text", "go-404", "nginx-html", "html-no-title"],
)
def test_plain_text_and_html_bodies(status, body, kind, sentence):
    exc = map_error(status, body_error(None, body), is_json=False)
    assert type(exc) is kind
    assert str(exc) == sentence


def test_an_html_page_is_not_classified_by_its_words():
    # A proxy's 502 page that happens to say "Unauthorized" is still a 502.
    page = b"<html><title>Unauthorized upstream</title></html>"
    assert type(map_error(502, body_error(None, page), is_json=False)) is GatewayUnavailable


def test_error_flag_beside_the_message():
    payload = {"error": True, "message": "quota exceeded for today", "code": "insufficient_quota"}
    exc = map_error(200, find_error(payload))
    assert isinstance(exc, PaymentRequired)
    assert exc.gateway_message == "insufficient_quota: quota exceeded for today."


def test_words_are_cut_to_two_sentences_and_the_cap():
    words = map_error(400, {"message": "First one. Second one! Third one. Fourth."}).gateway_message
    assert words == "First one. Second one!"
    long = map_error(400, {"message": "word " * 300}).gateway_message
    assert len(long) == MAX_DETAIL_CHARS and long.endswith("…")


def test_words_lose_markup_and_control_characters_but_keep_go_nil():
    exc = map_error(400, {"message": "<b>Bad</b>\x1b[31m request:\x00 value <nil>"})
    assert exc.gateway_message == "Bad [31m request: value <nil>."


@pytest.mark.parametrize(
    "secret",
    [
        "sk-or-v1-0123456789abcdef",
        "AIzaSyA1234567890abcdefghijk",
        "Bearer abc.def",
        "token: hunter2hunter2",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig",
        "https://admin:hunter2@proxy.example/",
    ],
)
def test_echoed_secrets_never_reach_the_words(secret):
    exc = map_error(401, {"message": f"Rejected credentials {secret} for this route"})
    assert "hunter2" not in str(exc) and secret not in str(exc)
    assert secret not in exc.gateway_message and "[redacted]" in exc.gateway_message


def test_scrub_error_takes_what_a_cut_left_of_the_key():
    key = "myGatewayKey-9f8e7d6c5b4a"
    exc = GatewayAuthError("The service said: token myGatewayKey-9f8e7d… and myGatewayKey")
    exc.gateway_message = "token myGatewayKey-9f8e7d…"
    scrub_error(exc, key)
    assert str(exc) == "The service said: token [redacted]… and [redacted]"
    assert exc.gateway_message == "token [redacted]…"
    # Fewer than 8 of its characters is a word, not a key.
    exc = GatewayAuthError("myGatew is a name")
    scrub_error(exc, key)
    assert str(exc) == "myGatew is a name"


@pytest.mark.parametrize(
    "message",
    [".", "...", "-", "null", "error", "Error:", "  ", "\u200b", "<nil>", "{}", "[]", "None"],
)
def test_words_that_say_nothing_are_not_shown(message):
    exc = map_error(400, {"message": message, "type": "invalid_request_error"})
    assert str(exc) == REJECTED
    assert exc.gateway_message == ""


@pytest.mark.parametrize(
    ("message", "words"),
    [
        (
            "Incorrect API key provided: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY. You can find it",
            "Incorrect API key provided: [redacted]. You can find it.",
        ),
        (
            "Authorization header x-api-key=abcd; token='zzzzzzzzzzzzzzz'",
            "Authorization header x-[redacted] [redacted].",
        ),
        ("key 'sk_live_0123456789abcdef0123' invalid", "key '[redacted]' invalid."),
        ('invalid key "AKIAIOSFODNN7EXAMPLE"', 'invalid key "[redacted]".'),
        # Paths, ratios and snake_case words are not secrets.
        (
            "see /v1beta/models/gemini-3-pro-image-preview:generateContent in "
            "usr/lib/python3.11/site-packages/uvicorn",
            "see /v1beta/models/gemini-3-pro-image-preview:generateContent in "
            "usr/lib/python3.11/site-packages/uvicorn.",
        ),
        (
            "ratio 16/9 and 4K+HDR for skill_test_of_the_day",
            "ratio 16/9 and 4K+HDR for skill_test_of_the_day.",
        ),
    ],
)
def test_credential_shapes_in_the_words(message, words):
    assert map_error(401, {"message": message}).gateway_message == words
