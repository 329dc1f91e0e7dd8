"""The one place where a gateway's error answer becomes one of the project's errors.

Gateways report errors as an HTTP status, a JSON body, or both, in several shapes:
``{"error": {...}}`` (OpenAI, Google, OpenRouter, one-api/new-api), ``[{"error": {...}}]``
(Google's OpenAI-compatibility layer), ``choices[0].error`` with ``finish_reason:
"error"`` (OpenRouter, sometimes with status 200), FastAPI's ``{"detail": ...}``, a bare
``{"message": ...}``, plain text, or an HTML page. The status decides first; when it
says nothing (200), the error's own ``code`` / ``status`` / ``type`` does.

Every error sentence is the project's, then the gateway's own words:
"The image service account is out of credit. The service said: insufficient_quota:
your balance is too low." The words are the message (for OpenRouter's "Provider
returned error", the provider's message inside ``metadata.raw``, then "(from
<provider_name>)"), prefixed by the first of ``code``, ``status``, ``type`` that is
one identifier, not a generic category (``GENERIC_LABELS``), not a placeholder
(``JUNK_WORDS``: "None", "null", "failed"...), not an exception class ("TypeError",
"java.lang.IllegalStateException") and not already in the message.

What is not for users goes first:

* a message that quotes the upstream's error (JSON, or a Python dict's repr: LiteLLM's
  "litellm.BadRequestError: GeminiException BadRequestError - {...}", new-api's "bad
  response status code 400, message: {...}", the openai SDK's "Error code: 400 -
  {'error': {...}}") gives that error's words instead, read as ``metadata.raw`` is;
* leading exception class names ("openai.APIConnectionError: ", "GeminiException
  BadRequestError - ") are dropped;
* a stack dump (a Python "Traceback (most recent call last)", Go's "panic: " or
  "goroutine N") is no words at all, nor is text with fewer than two letters or
  digits (".", "-", "{}", a zero-width space) or a lone placeholder ("null", "<nil>").

The words left are scrubbed of anything that looks like a key (``bot.secrets``),
stripped of control characters and HTML tags, cut to two sentences and
``MAX_DETAIL_CHARS``, never in the middle of a word (half a word may be half a key).
An HTML page is a proxy's, not the gateway's words: the sentence names its title instead.
"""

from __future__ import annotations

import ast
import email.utils
import html
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from bot.errors import (
    ContentBlocked,
    GatewayAuthError,
    GatewayError,
    GatewayRateLimited,
    GatewayRejected,
    GatewayTimeout,
    GatewayUnavailable,
    ImagineError,
    ModelNotAvailable,
    PaymentRequired,
    RequestTooLarge,
)
from bot.secrets import scrub_credentials

MAX_DETAIL_CHARS = 200
# How much of a message is read for its sentences (the rest is past any cut).
MAX_SCAN_CHARS = 8 * MAX_DETAIL_CHARS

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
TIMEOUT_STATUSES = {408, 504, 524}

_MODEL_MISSING = re.compile(
    r"model\b.{0,80}\b(not found|does not exist|doesn't exist|not exist|not allowed|"
    r"not available|unavailable for|not supported|not enabled|no access|not permitted)"
    r"|\b(unknown|invalid|unsupported|no such) model\b|no available channels?\b|model_not_found",
    re.IGNORECASE | re.DOTALL,
)
_BAD_KEY = re.compile(
    r"api[ _-]?key (is )?(not valid|invalid|expired|missing)|(invalid|incorrect|missing) "
    r"(api[ _-]?key|token|authentication)|api_key_invalid|unauthori[sz]ed",
    re.IGNORECASE,
)
_NO_CREDIT = re.compile(
    r"insufficient[ _](quota|balance|credits?|funds)|out of credits?|credit balance is too low"
    r"|payment required",
    re.IGNORECASE,
)
_OVERLOADED = re.compile(r"overloaded|temporarily unavailable|try again later", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
# Tags of the HTML a gateway may wrap around a message; Go's "<nil>" and the like stay.
_TAGS = re.compile(
    r"<(script|style)\b.*?</\1\s*>|</?(a|b|i|u|p|br|hr|div|span|strong|em|code|pre|h[1-6]|ul|ol"
    r"|li|center|title|small|big|sup|sub|font|table|tr|td|th|img|head|body|html|meta|link)\b[^<>]*>",
    re.IGNORECASE | re.DOTALL,
)
_HTML_PAGE = re.compile(r"<(!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_TITLE = re.compile(r"<title[^>]*>(.{1,300}?)</title", re.IGNORECASE | re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z0-9\"'(\[])")
# A code worth showing before the message ("insufficient_quota: ..."): one identifier.
_LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]{1,47}")
# Categories so broad they say nothing the message does not (one-api/new-api, OpenAI).
GENERIC_LABELS = frozenset(
    {
        "error",
        "api_error",
        "invalid_request_error",
        "new_api_error",
        "one_api_error",
        "openai_error",
        "upstream_error",
        "server_error",
        "unknown_error",
    }
)
# OpenRouter's metadata.raw is the upstream's whole error body as a string.
MAX_RAW_CHARS = 64 * 1024
# A Python dict repr quoted in a message is read with ast.literal_eval: only a small one.
MAX_LITERAL_CHARS = 8 * 1024
_JSON = json.JSONDecoder()
# Words that are a placeholder, not a message ("type": "None", "message": "null").
JUNK_WORDS = frozenset(
    {"none", "null", "nil", "undefined", "error", "errors", "failed", "failure", "false"}
    | {"true", "nan", "unknown", "na", "empty"}
)
# An exception class: "TypeError", "java.lang.IllegalStateException", "openai.APIError".
_CLASS_NAME = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)")
# Such names leading a message: "litellm.BadRequestError: GeminiException BadRequestError - ".
_CLASS_PREFIX = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Z]\w*(?:Error|Exception)(?:\s*[:\-]\s*|\s+)")
# A stack dump is no sentence (Python, Go).
_DUMP = re.compile(r"Traceback \(most recent call last\)|\bpanic: |\bgoroutine \d")
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


def _junk(text: str) -> bool:
    """Words that say nothing: "", ".", "null", "None", "<nil>", "{}", "Error:" and kin."""
    bare = re.sub(r"[\W_]+", "", text.lower())
    return len(bare) < 2 or bare in JUNK_WORDS


def _label_of(error: Mapping[str, Any], message: str) -> str:
    said_already = re.sub(r"[_.\-]+", " ", message.lower())
    for key in ("code", "status", "type"):
        value = error.get(key)
        if (
            isinstance(value, str)
            and _LABEL.fullmatch(value)
            and value.lower() not in GENERIC_LABELS
            and not _junk(value)
            and not _CLASS_NAME.fullmatch(value)
            and re.sub(r"[_.\-]+", " ", value.lower()) not in said_already
        ):
            return value
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


def _clean(message: str) -> str:
    """The message without what is not for users: class-name prefixes, dumps, nothing-words."""
    if _DUMP.search(message):
        return ""
    while match := _CLASS_PREFIX.match(message):
        message = message[match.end() :]
    return "" if _junk(message) else message


def _words(label: str, message: str, provider: str) -> tuple[str, str | None]:
    """The user-facing words and, for an HTML page, its title."""
    if _HTML_PAGE.search(message):
        title = _TITLE.search(message)
        return "", safe_detail(html.unescape(title.group(1))) if title else ""
    text = safe_detail(_clean(message))
    if not text:
        return "", None
    if label and (label := safe_detail(label)):
        text = f"{label}: {text}"
    if provider and (provider := safe_detail(provider)):
        text = f"{text.rstrip('.')} (from {provider})"
    text = _cut(text, MAX_DETAIL_CHARS)
    if text[-1] not in ".!?…":
        text += "."
    return text, None


def error_info(error: Any) -> ErrorInfo:
    """Message, codes, reasons and wait of an error object as ``find_error`` found it."""
    return _info(error, 0)


def _info(error: Any, depth: int) -> ErrorInfo:
    if isinstance(error, str):
        inner = _embedded(error, depth)
        if inner is not None:
            return replace(inner, message=f"{error} {inner.message}")
        words, title = _words("", error, "")
        # A proxy's page is no gateway's verdict: the status alone classifies it.
        return ErrorInfo(message=error if title is None else "", words=words, page_title=title)
    if not isinstance(error, Mapping):
        return ErrorInfo()
    message = _message_of(error)
    code = _int_code(error.get("code"))
    # The first name that classifies ("code": "BALANCE-LOW" beside "type": "insufficient_quota").
    values = [error.get(key) for key in ("status", "code", "type")]
    names = [n for n in values if isinstance(n, str) and not n.isdigit() and not _junk(n)]
    known = [n for n in names if n.upper() in GOOGLE_STATUS or n.lower() in TYPE_STATUS]
    kind = (known or names or [""])[0]
    label = _label_of(error, message)
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
    words, title = _words(label, message, provider)
    if upstream is not None and (upstream.words or upstream.page_title):
        # "Provider returned error" says nothing; the provider's own words do.
        words = upstream.words
        title = upstream.page_title
        if provider and words:
            words = _words("", words, provider)[0]
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


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _cut(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, ending in "…" when cut, and never mid-word.

    Half a word may be half a secret (a key echoed at the cut): it goes whole.
    """
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    if not text[limit - 1].isspace() and " " in head:
        head = head.rpartition(" ")[0]
    return head.rstrip() + "…"


def safe_detail(message: str) -> str:
    """The gateway's message if it is fit to show a user (one or two sentences), else ""."""
    if not isinstance(message, str) or _HTML_PAGE.search(message):
        return ""  # a whole page is not a sentence; see _words for its title
    cut_short = len(message) > MAX_SCAN_CHARS
    text = _TAGS.sub(" ", message[:MAX_SCAN_CHARS])
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"\s+", " ", text).strip()
    if cut_short:
        text = text.rpartition(" ")[0]  # the scan's cut may have split the last word
    if not text:
        return ""
    text = scrub_credentials(text)
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if len(ends) >= 2:
        text, cut_short = text[: ends[1]], False
    if len(text) > MAX_DETAIL_CHARS:
        return _cut(text, MAX_DETAIL_CHARS)
    return text + "…" if cut_short else text


def _effective_status(status: int, info: ErrorInfo) -> int | None:
    if status >= 400:
        return status
    if info.code is not None and info.code >= 400:
        return info.code
    if info.kind.upper() in GOOGLE_STATUS:
        return GOOGLE_STATUS[info.kind.upper()]
    return TYPE_STATUS.get(info.kind.lower())


def said(info: ErrorInfo) -> str:
    """The sentence that carries the gateway's words after the project's, or ""."""
    if info.words:
        return f"The service said: {info.words}"
    if info.page_title:
        return f"The service sent an HTML error page titled \u201c{info.page_title}\u201d."
    if info.page_title is not None:
        return "The service sent an HTML error page (perhaps a proxy's)."
    return ""


def map_error(
    status: int,
    error: Any = None,
    *,
    is_json: bool = True,
    retry_after: str | None = None,
    model: str | None = None,
) -> ImagineError:
    """The project's error for an error answer (``error`` as found by ``find_error``).

    Its sentence is the project's, then the gateway's own words (``said``), which also
    go to ``gateway_message``.
    """
    info = error_info(error)
    exc = _classify(status, info, is_json=is_json, retry_after=retry_after, model=model)
    tail = said(info)
    if tail:
        exc.args = (f"{exc} {tail}",)
    exc.gateway_message = info.words
    return exc


def _classify(
    status: int, info: ErrorInfo, *, is_json: bool, retry_after: str | None, model: str | None
) -> ImagineError:
    effective = _effective_status(status, info)
    text = f"{info.message} {info.kind}"
    http = f" (HTTP {effective})" if effective else ""

    if info.reasons or (effective == 403 and re.search(r"flagged|moderation", text, re.I)):
        reason = ", ".join(info.reasons) or "moderation"
        return ContentBlocked(reason=safe_detail(reason) or "moderation", status=effective)
    if effective == 402 or _NO_CREDIT.search(text):
        return PaymentRequired(status=effective)
    if effective == 401 or info.kind.upper() == "UNAUTHENTICATED" or _BAD_KEY.search(text):
        return GatewayAuthError(status=effective)
    if effective in (400, 403, 404, None) and _MODEL_MISSING.search(text):
        return _model_missing(model, effective)
    if effective == 403:
        return GatewayAuthError(
            "The image service refused access with this API key.",
            status=403,
        )
    if effective == 404:
        if not is_json:
            return GatewayRejected(
                "The image service address answered 404 Not Found; check the gateway base URL.",
                status=404,
            )
        return _model_missing(model, 404)
    if effective == 429:
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = info.retry_delay
        message = None
        if wait is not None:
            message = (
                f"The image service is rate limiting us. Try again in {math.ceil(wait)} seconds."
            )
        return GatewayRateLimited(message, retry_after=wait)
    if effective in TIMEOUT_STATUSES:
        return GatewayTimeout(status=effective)
    if effective == 413:
        return RequestTooLarge()
    if (effective is not None and effective >= 500) or _OVERLOADED.search(text):
        # OpenRouter sends Retry-After with 503 too; the client waits that long if asked.
        return GatewayUnavailable(
            f"The image service is down or overloaded right now{http}. Try again in a minute.",
            status=effective,
            retry_after=parse_retry_after(retry_after),
        )
    if effective == 409:
        return GatewayUnavailable(status=409)
    return GatewayRejected(f"The image service did not accept the request{http}.", status=effective)


def _model_missing(model: str | None, status: int | None) -> GatewayError:
    name = f"The model {safe_detail(model)}" if model and safe_detail(model) else "That model"
    return ModelNotAvailable(
        f"{name} is not available on this image service or for this API key.", status=status
    )
