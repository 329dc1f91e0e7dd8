"""The one place where a gateway's error answer becomes one of the project's errors.

The status decides first; when it says nothing (200), the error's own ``code`` /
``status`` / ``type`` does (read from the body by ``bot.gateway.error_body``).

Every error sentence is the project's, then the gateway's own words
(``bot.gateway.error_words``): "The image service account is out of credit. The
service said: insufficient_quota: your balance is too low."
"""

from __future__ import annotations

import email.utils
import math
import re
import time
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
from bot.gateway.error_body import GOOGLE_STATUS, TYPE_STATUS, ErrorInfo, error_info
from bot.gateway.error_words import safe_detail
from bot.i18n import Message, _, join, n_

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
# A 404 whose JSON says the path is wrong (OpenAI: "Invalid URL (POST /v1/chat/completion)"):
# the base URL is at fault, not the model.
_BAD_PATH = re.compile(
    r"invalid url|unknown (url|path|route|endpoint)|no route|route not found|path not found"
    r"|endpoint not found|not found: /",
    re.IGNORECASE,
)
_OVERLOADED = re.compile(r"overloaded|temporarily unavailable|try again later", re.IGNORECASE)


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


def _effective_status(status: int, info: ErrorInfo) -> int | None:
    if status >= 400:
        return status
    if info.code is not None and info.code >= 400:
        return info.code
    if info.kind.upper() in GOOGLE_STATUS:
        return GOOGLE_STATUS[info.kind.upper()]
    return TYPE_STATUS.get(info.kind.lower())


def said(info: ErrorInfo) -> Message:
    """The sentence that carries the gateway's words after the project's, or ""."""
    if info.words:
        # Translators: {words} are the image service's own words (English, not translated).
        return _("The service said: {words}", words=info.words)
    if info.page_title:
        # Translators: {title} is the title of the web page a proxy sent instead of an answer.
        return _(
            "The service sent an HTML error page titled \u201c{title}\u201d.", title=info.page_title
        )
    if info.page_title is not None:
        return _("The service sent an HTML error page (perhaps a proxy's).")
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
        exc.reword(join([exc.message, tail]))
    exc.gateway_message = info.words
    return exc


def _classify(
    status: int, info: ErrorInfo, *, is_json: bool, retry_after: str | None, model: str | None
) -> ImagineError:
    effective = _effective_status(status, info)
    text = f"{info.message} {info.kind}"

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
            _("The image service refused access with this API key."),
            status=403,
        )
    if effective == 404:
        if not is_json or _BAD_PATH.search(text):
            return GatewayRejected(
                _("The image service address answered 404 Not Found; check the gateway base URL."),
                status=404,
            )
        return _model_missing(model, 404)
    if effective == 429:
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = info.retry_delay
        message = None
        if wait is not None:
            message = n_(
                "The image service is rate limiting us. Try again in {n} second.",
                "The image service is rate limiting us. Try again in {n} seconds.",
                math.ceil(wait),
            )
        return GatewayRateLimited(message, retry_after=wait)
    if effective in TIMEOUT_STATUSES:
        return GatewayTimeout(status=effective)
    if effective == 413:
        return RequestTooLarge()
    if (effective is not None and effective >= 500) or _OVERLOADED.search(text):
        # OpenRouter sends Retry-After with 503 too; the client waits that long if asked.
        down = (
            # Translators: {status} is the HTTP status code the image service answered (503).
            _(
                "The image service is down or overloaded right now (HTTP {status}). "
                "Try again in a minute.",
                status=effective,
            )
            if effective
            else None
        )
        return GatewayUnavailable(
            down,
            status=effective,
            retry_after=parse_retry_after(retry_after),
        )
    if effective == 409:
        return GatewayUnavailable(status=409)
    rejected = (
        # Translators: {status} is the HTTP status code the image service answered (400).
        _("The image service did not accept the request (HTTP {status}).", status=effective)
        if effective
        else None
    )
    return GatewayRejected(rejected, status=effective)


def _model_missing(model: str | None, status: int | None) -> GatewayError:
    name = safe_detail(model) if model else ""
    message = (
        # Translators: {model} is the model's id (gemini-2.5-flash-image).
        _(
            "The model {model} is not available on this image service or for this API key.",
            model=name,
        )
        if name
        else _("That model is not available on this image service or for this API key.")
    )
    return ModelNotAvailable(message, status=status)
