"""What a gateway's error body says, whatever its shape: ``ErrorInfo``.

Gateways report errors as an HTTP status, a JSON body, or both, in several shapes:
``{"error": {...}}`` (OpenAI, Google, OpenRouter, one-api/new-api), ``[{"error": {...}}]``
(Google's OpenAI-compatibility layer), ``choices[0].error`` with ``finish_reason:
"error"`` (OpenRouter, sometimes with status 200), FastAPI's ``{"detail": ...}``, a bare
``{"message": ...}``, plain text, or an HTML page.

The user's words (``bot.gateway.error_words``) come from the message, except where the
message says nothing or quotes the real error:

* for OpenRouter's "Provider returned error", the provider's message inside
  ``metadata.raw`` (JSON text or plain), then "(from <provider_name>)";
* a message that quotes the upstream's error (JSON, or a Python dict's repr: LiteLLM's
  "litellm.BadRequestError: GeminiException BadRequestError - {...}", new-api's "bad
  response status code 400, message: {...}", the openai SDK's "Error code: 400 -
  {'error': {...}}") gives that error's words instead, read as ``metadata.raw`` is.

The status names a body may carry (``GOOGLE_STATUS``, ``TYPE_STATUS``) live here because
the reader picks the first name that classifies; ``bot.gateway.errors_map`` classifies
by them.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from bot.gateway.error_words import junk, label_of, user_words

# google.rpc.Code names → the HTTP status Google pairs them with.
GOOGLE_STATUS = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "DATA_LOSS": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# Error ``type``/``code`` strings of OpenAI- and Anthropic-style gateways.
TYPE_STATUS = {
    "invalid_api_key": 401,
    "authentication_error": 401,
    "permission_error": 403,
    "insufficient_quota": 402,
    "billing_error": 402,
    "model_not_found": 404,
    "not_found_error": 404,
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "request_too_large": 413,
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "timeout": 408,
}
# OpenRouter's metadata.raw is the upstream's whole error body as a string.
MAX_RAW_CHARS = 64 * 1024
# A Python dict repr quoted in a message is read with ast.literal_eval: only a small one.
MAX_LITERAL_CHARS = 8 * 1024
_JSON = json.JSONDecoder()
# Enough of a plain-text error body to hold its sentence and classify it.
MAX_TEXT_BODY_BYTES = 4096


@dataclass(frozen=True)
class ErrorInfo:
    """What a gateway error body says, whatever its shape."""

    message: str = ""  # every message found, for classification
    code: int | None = None
    kind: str = ""  # Google status name or OpenAI/Anthropic type/code string
    reasons: tuple[str, ...] = ()
    retry_delay: float | None = None
    words: str = ""  # what the user is shown: scrubbed, trimmed, "" when nothing fit
    page_title: str | None = None  # set when the "message" was an HTML page


def find_error(payload: Any) -> Any | None:
    """The error object inside a JSON body, or None when the body is not an error."""
    if isinstance(payload, list):
        for item in payload[:8]:
            if isinstance(item, Mapping) and item.get("error"):
                return item["error"]
        return None
    if not isinstance(payload, Mapping):
        return None
    if payload.get("error"):
        error = payload["error"]
        # {"error": true, "message": ...}: the words are beside the flag.
        return error if isinstance(error, (Mapping, str)) else payload
    choices = payload.get("choices")
    if (
        isinstance(choices, list)
        and choices
        and isinstance(choices[0], Mapping)
        and choices[0].get("error")
    ):
        return choices[0]["error"]
    return None


def body_error(payload: Any, body: bytes) -> Any | None:
    """What ``map_error`` needs from an error answer: its error object, or its text."""
    error = find_error(payload)
    if error is None and isinstance(payload, Mapping):
        error = payload  # {"message": ..., "code": ...} or FastAPI's {"detail": ...}
    if error is None and payload is None and body.strip():
        error = body[:MAX_TEXT_BODY_BYTES].decode("utf-8", "replace")
    return error


def _int_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and 100 <= value <= 599:
        return value
    if isinstance(value, str) and value.isdigit() and len(value) == 3:
        return int(value)
    return None


def _duration(value: Any) -> float | None:
    """Seconds from Google's "27s" / "1.5s" or {"seconds": 27, "nanos": ...}."""
    try:
        if isinstance(value, str) and value.endswith("s"):
            seconds = float(value[:-1])
        elif isinstance(value, Mapping):
            seconds = float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
        else:
            return None
    except (TypeError, ValueError):
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _message_of(error: Mapping[str, Any]) -> str:
    for key in ("message", "detail", "error_description", "msg"):
        value = error.get(key)
        if isinstance(value, str):
            return value
        # FastAPI's validation errors: {"detail": [{"loc": [...], "msg": "..."}]}
        if isinstance(value, list) and value and isinstance(value[0], Mapping):
            first = value[0].get("msg") or value[0].get("message")
            if isinstance(first, str):
                return first
    return ""


def _upstream(raw: Any, depth: int) -> ErrorInfo | None:
    """The provider's own error inside OpenRouter's ``metadata.raw`` (JSON text or plain)."""
    if isinstance(raw, str):
        text = raw.strip()[:MAX_RAW_CHARS]
        if not text:
            return None
        if text[0] in "{[":
            try:
                parsed = orjson.loads(text)
            except orjson.JSONDecodeError:
                parsed = None
            if parsed is not None:
                raw = parsed
        if isinstance(raw, str):
            return _info(text, depth + 1)
    if isinstance(raw, (Mapping, list)):
        found = find_error(raw)
        return _info(found if found is not None else raw, depth + 1)
    return None


def _embedded(message: str, depth: int) -> ErrorInfo | None:
    """The error inside a message that quotes one: JSON or a Python dict's repr.

    "litellm.BadRequestError: GeminiException BadRequestError - {"error": {...}}",
    "bad response status code 400, message: {...}" (new-api), "Error code: 400 -
    {'error': {...}}" (the openai SDK). None unless it holds words.
    """
    start = message.find("{")
    if start < 0 or depth >= 2 or len(message) > MAX_RAW_CHARS:
        return None
    try:
        parsed, _ = _JSON.raw_decode(message, start)
    except ValueError:
        parsed = _python_literal(message, start)
    if not isinstance(parsed, Mapping):
        return None
    info = _upstream(parsed, depth)
    return info if info is not None and info.words else None


def _python_literal(message: str, start: int) -> Any:
    """A dict repr from ``start`` to one of the last few ``}``, or None."""
    end = len(message)
    for _ in range(4):
        end = message.rfind("}", start, end)
        if end < 0 or end - start > MAX_LITERAL_CHARS:
            return None
        try:
            return ast.literal_eval(message[start : end + 1])
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return None


def error_info(error: Any) -> ErrorInfo:
    """Message, codes, reasons and wait of an error object as ``find_error`` found it."""
    return _info(error, 0)


def _info(error: Any, depth: int) -> ErrorInfo:
    if isinstance(error, str):
        inner = _embedded(error, depth)
        if inner is not None:
            return replace(inner, message=f"{error} {inner.message}")
        words, title = user_words("", error, "")
        # A proxy's page is no gateway's verdict: the status alone classifies it.
        return ErrorInfo(message=error if title is None else "", words=words, page_title=title)
    if not isinstance(error, Mapping):
        return ErrorInfo()
    message = _message_of(error)
    code = _int_code(error.get("code"))
    # The first name that classifies ("code": "BALANCE-LOW" beside "type": "insufficient_quota").
    values = [error.get(key) for key in ("status", "code", "type")]
    names = [n for n in values if isinstance(n, str) and not n.isdigit() and not junk(n)]
    known = [n for n in names if n.upper() in GOOGLE_STATUS or n.lower() in TYPE_STATUS]
    kind = (known or names or [""])[0]
    label = label_of(error, message)
    reasons: tuple[str, ...] = ()
    upstream: ErrorInfo | None = None
    provider = ""
    metadata = error.get("metadata")
    if isinstance(metadata, Mapping):
        if isinstance(metadata.get("reasons"), list):
            reasons = tuple(str(r) for r in metadata["reasons"][:10] if isinstance(r, (str, int)))
        if depth < 2:
            upstream = _upstream(metadata.get("raw"), depth)
        name = metadata.get("provider_name")
        provider = name if isinstance(name, str) else ""
    if upstream is None or not (upstream.words or upstream.page_title):
        # A message quoting the upstream's error body whole: its words, not the dump.
        upstream = _embedded(message, depth) or upstream
    retry_delay = None
    details = error.get("details")
    if isinstance(details, list):
        for detail in details[:20]:
            if isinstance(detail, Mapping):
                if "retryDelay" in detail:
                    retry_delay = _duration(detail["retryDelay"])
                if detail.get("reason") == "API_KEY_INVALID":
                    kind = "UNAUTHENTICATED"
    words, title = user_words(label, message, provider)
    if upstream is not None and (upstream.words or upstream.page_title):
        # "Provider returned error" says nothing; the provider's own words do.
        words = upstream.words
        title = upstream.page_title
        if provider and words:
            words = user_words("", words, provider)[0]
    if upstream is not None:
        message = f"{message} {upstream.message}".strip()
        kind = kind or upstream.kind
        retry_delay = retry_delay if retry_delay is not None else upstream.retry_delay
    return ErrorInfo(
        message=message,
        code=code,
        kind=kind,
        reasons=reasons,
        retry_delay=retry_delay,
        words=words,
        page_title=title,
    )
