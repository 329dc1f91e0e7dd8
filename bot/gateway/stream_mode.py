"""Recognising a gateway that refuses non-streaming requests, from its own words.

Matched conservatively: a false match only costs one streaming retry, but a gateway
that says "streaming is not supported" must never be switched to streaming.
"""

from __future__ import annotations

import re

from bot.errors import GatewayError

# Wordings seen from, or modelled on, one-api/new-api style gateways: "stream must be
# true", "only stream mode is supported", "non-streaming is not supported".
_STREAM_ONLY = re.compile(
    r"\bstream(?:ing)?\s+(?:must|should|has\s+to|needs\s+to)\s+be\s+(?:true|enabled|on)\b"
    r"|\bonly\s+(?:supports?\s+)?stream(?:s|ing|ed)?\b"
    r"|\bstream[-\s]only\b"
    r"|\bnon[-_\s]?stream(?:ing|ed)?\b[\w\s()-]{0,40}?\bnot\s+(?:supported|allowed|available)\b"
    r"|\b(?:requires?|required)\s+stream(?:ing)?\b"
    r"|\bstreaming(?:\s+mode)?\s+is\s+required\b"
    r"|\bstream\s*[=:]\s*false\b[\w\s]{0,20}?\bnot\s+(?:supported|allowed)\b",
    re.IGNORECASE,
)


def refuses_non_streaming(exc: BaseException) -> bool:
    """Whether ``exc`` is a 4xx in which the gateway says it only answers streaming requests."""
    if not isinstance(exc, GatewayError) or exc.status is None or not 400 <= exc.status < 500:
        return False
    words = getattr(exc, "gateway_message", "") or str(exc)
    return _STREAM_ONLY.search(words) is not None
