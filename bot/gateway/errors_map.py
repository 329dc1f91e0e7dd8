"""The one place where a gateway's error answer becomes one of the project's errors.

Gateways report errors as an HTTP status, a JSON body, or both, in several shapes:
``{"error": {...}}`` (OpenAI, Google, OpenRouter), ``[{"error": {...}}]`` (Google's
OpenAI-compatibility layer), ``choices[0].error`` with ``finish_reason: "error"``
(OpenRouter, sometimes with status 200), a bare string, or an HTML page. The status
decides first; when it says nothing (200), the error's own ``code`` / ``status`` /
``type`` does. Messages shown to users carry the gateway's own words only when they
are short, and never anything that looks like a key.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

MAX_DETAIL_CHARS = 200

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
_SECRETS = re.compile(
    r"\b(sk|pk|rk)-[A-Za-z0-9_\-]{6,}|\bAIza[0-9A-Za-z_\-]{10,}|Bearer\s+\S+"
    r"|\b(api[_-]?key|key|token)=[^\s&\"']+|\b[A-Za-z0-9_\-]{32,}\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True)
class ErrorInfo:
    """What a gateway error body says, whatever its shape."""

    message: str = ""
    code: int | None = None
    kind: str = ""  # Google status name or OpenAI/Anthropic type/code string
    reasons: tuple[str, ...] = ()
    retry_delay: float | None = None


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
        return payload["error"]
    choices = payload.get("choices")
    if (
        isinstance(choices, list)
        and choices
        and isinstance(choices[0], Mapping)
        and choices[0].get("error")
    ):
        return choices[0]["error"]
    return None


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


def error_info(error: Any) -> ErrorInfo:
    if isinstance(error, str):
        return ErrorInfo(message=error)
    if not isinstance(error, Mapping):
        return ErrorInfo()
    message: Any = error.get("message")
    if not isinstance(message, str):
        detail = error.get("detail")
        message = detail if isinstance(detail, str) else ""
    code = _int_code(error.get("code"))
    kind = ""
    for key in ("status", "code", "type"):
        value = error.get(key)
        if isinstance(value, str) and not value.isdigit():
            kind = value
            break
    reasons: tuple[str, ...] = ()
    metadata = error.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("reasons"), list):
        reasons = tuple(str(r) for r in metadata["reasons"][:10] if isinstance(r, (str, int)))
    retry_delay = None
    details = error.get("details")
    if isinstance(details, list):
        for detail in details[:20]:
            if isinstance(detail, Mapping):
                if "retryDelay" in detail:
                    retry_delay = _duration(detail["retryDelay"])
                if detail.get("reason") == "API_KEY_INVALID":
                    kind = "UNAUTHENTICATED"
    return ErrorInfo(
        message=message, code=code, kind=kind, reasons=reasons, retry_delay=retry_delay
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


def safe_detail(message: str) -> str:
    """The gateway's message if it is fit to show a user, else ""."""
    if not isinstance(message, str):
        return ""
    text = _CONTROL.sub(" ", message).strip()
    text = re.sub(r"\s+", " ", text)
    if not text or ("<" in text and ">" in text):  # markup: an HTML page, not a sentence
        return ""
    text = _SECRETS.sub("[redacted]", text)
    if len(text) > MAX_DETAIL_CHARS:
        text = text[: MAX_DETAIL_CHARS - 1].rstrip() + "…"
    return text


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


def _effective_status(status: int, info: ErrorInfo) -> int | None:
    if status >= 400:
        return status
    if info.code is not None and info.code >= 400:
        return info.code
    if info.kind.upper() in GOOGLE_STATUS:
        return GOOGLE_STATUS[info.kind.upper()]
    return TYPE_STATUS.get(info.kind.lower())


def _with_detail(base: str, detail: str) -> str:
    return f"{base} The service said: {detail}" if detail else base


def map_error(
    status: int,
    error: Any = None,
    *,
    is_json: bool = True,
    retry_after: str | None = None,
    model: str | None = None,
) -> ImagineError:
    """The project's error for an error answer (``error`` as found by ``find_error``)."""
    info = error_info(error)
    detail = safe_detail(info.message)
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
        return _model_missing(model, detail, effective)
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
        return _model_missing(model, detail, 404)
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
    return GatewayRejected(
        _with_detail(f"The image service did not accept the request{http}.", detail),
        status=effective,
    )


def _model_missing(model: str | None, detail: str, status: int | None) -> GatewayError:
    name = f"The model {safe_detail(model)}" if model and safe_detail(model) else "That model"
    return ModelNotAvailable(
        _with_detail(f"{name} is not available on this image service or for this API key.", detail),
        status=status,
    )
