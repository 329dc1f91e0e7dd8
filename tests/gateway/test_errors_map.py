"""Status and error-body mapping to the project's errors, in the one place it happens."""

from __future__ import annotations

import email.utils
import time

import orjson
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
from bot.gateway.errors_map import (
    MAX_DETAIL_CHARS,
    body_error,
    find_error,
    map_error,
    parse_retry_after,
    safe_detail,
)
from bot.secrets import scrub_error


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


# --------------------------------------------------------------------------- the gateway's words

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


LITELLM_400 = {
    "error": {
        "message": 'litellm.BadRequestError: GeminiException BadRequestError - {\n  "error": {\n'
        '    "code": 400,\n    "message": "Image part is missing a thought_signature",\n'
        '    "status": "INVALID_ARGUMENT"\n  }\n}\n. Received Model Group=gemini-3-pro-image\n'
        "Available Model Group Fallbacks=None",
        "type": "None",
        "param": "None",
        "code": "400",
    }
}
LITELLM_429 = {
    "error": {
        "message": "litellm.RateLimitError: litellm.RateLimitError: VertexAIException - {\n"
        '  "error": {\n    "code": 429,\n    "message": "Resource exhausted. Please try again '
        'later.",\n    "status": "RESOURCE_EXHAUSTED"\n  }\n}\n',
        "type": "throttling_error",
        "param": None,
        "code": "429",
    }
}
NEW_API_UPSTREAM = {
    "error": {
        "message": 'bad response status code 400, message: {"error":{"code":400,"message":'
        '"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}',
        "type": "upstream_error",
        "param": "",
        "code": "bad_response_status_code",
    }
}
OPENAI_SDK = {
    "detail": "Error code: 400 - {'error': {'message': 'Invalid image_size 8K', 'type': "
    "'invalid_request_error', 'param': None, 'code': None}}"
}
REJECTED = "The image service did not accept the request (HTTP 400)."
DOWN = "The image service is down or overloaded right now (HTTP {}). Try again in a minute."


@pytest.mark.parametrize(
    ("status", "body", "sentence"),
    [
        (
            400,
            LITELLM_400,
            f"{REJECTED} The service said: INVALID_ARGUMENT: Image part is missing a "
            "thought_signature.",
        ),
        (
            429,
            LITELLM_429,
            "The image service is rate limiting us. Try again in a moment. The service said: "
            "Resource exhausted. Please try again later.",
        ),
        (
            500,
            NEW_API_UPSTREAM,
            DOWN.format(500) + " The service said: FAILED_PRECONDITION: User location is not "
            "supported for the API use.",
        ),
        (400, OPENAI_SDK, f"{REJECTED} The service said: Invalid image_size 8K."),
        (
            500,
            b"Error code: 500 - {'error': {'message': 'upstream exploded', "
            b"'type': 'upstream_timeout'}}",
            DOWN.format(500) + " The service said: upstream_timeout: upstream exploded.",
        ),
        (
            500,
            b'Traceback (most recent call last):\n  File "/app/proxy/server.py", line 88, in '
            b"handle\n    resp = await upstream(req)\nKeyError: 'candidates'\n",
            DOWN.format(500),
        ),
        (
            500,
            b"Internal Server Error\n\nTraceback (most recent call last):\n  File "
            b'"/usr/lib/python3.11/site-packages/uvicorn/protocols/http/h11_impl.py", line 404',
            DOWN.format(500),
        ),
        (
            502,
            b"panic: runtime error: invalid memory address or nil pointer dereference\n[signal "
            b"SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6b8f2a]\n\ngoroutine 1 "
            b"[running]:\nmain.main()",
            DOWN.format(502),
        ),
        (
            500,
            {"error": {"message": "openai.APIConnectionError: Connection error.", "type": "E"}},
            DOWN.format(500) + " The service said: Connection error.",
        ),
        (
            500,
            {"error": {"message": "Boom", "type": "APIConnectionError"}},
            DOWN.format(500) + " The service said: Boom.",
        ),
        (
            400,
            {
                "error": {
                    "message": "Error in input stream",
                    "type": "java.lang.IllegalStateException",
                }
            },
            f"{REJECTED} The service said: Error in input stream.",
        ),
        (
            500,
            {"error": {"message": "TypeError: 'NoneType' object is not subscriptable"}},
            DOWN.format(500) + " The service said: 'NoneType' object is not subscriptable.",
        ),
        (
            400,
            {"error": {"message": "bad size", "code": "failed"}},
            f"{REJECTED} The service said: bad size.",
        ),
        (
            500,
            {"error": {"message": "boom", "code": "None"}},
            DOWN.format(500) + " The service said: boom.",
        ),
        (
            400,
            {"error": {"message": "boom", "code": "null", "type": "undefined"}},
            f"{REJECTED} The service said: boom.",
        ),
        # A quoted dict that holds no words leaves the message as it was.
        (
            400,
            {"error": {"message": "Unsupported option {'quality': 9}"}},
            f"{REJECTED} The service said: Unsupported option {{'quality': 9}}.",
        ),
    ],
)
def test_wrapped_and_dumped_errors_read_as_the_gateways_words(status, body, sentence):
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    payload = None if isinstance(body, bytes) else body
    exc = map_error(status, body_error(payload, raw), is_json=payload is not None)
    assert str(exc) == sentence


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
