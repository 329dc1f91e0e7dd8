"""Errors that quote the upstream's error (LiteLLM, new-api, the openai SDK) or a dump."""

from __future__ import annotations

import orjson
import pytest

from bot.gateway.error_body import body_error
from bot.gateway.errors_map import map_error
from tests.gateway.test_error_words import REJECTED

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
