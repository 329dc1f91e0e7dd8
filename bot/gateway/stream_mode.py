"""Recognising, from a gateway's own words, that it only streams, or that it cannot stream.

Matched conservatively: a false "only streams" costs a streaming retry (and, were it
remembered, every later request), so a phrase is not taken when the same clause goes on
to say false, disabled, off or not ("requires stream=false", "only supports streaming of
text, not images"). A gateway's words that it does not stream undo the switch.
"""

from __future__ import annotations

import re

from bot.errors import GatewayError

# The rest of the clause must not turn the phrase around.
_NOT_TURNED = r"(?![^.;\n]{0,40}?\b(?:false|disabled|off|not|unsupported)\b)"
# "stream", not "non-stream" nor "stream_options".
_STREAM = r"(?<!non-)(?<!non\s)\bstream(?:s|ing|ed)?\b"

# Wordings seen from, or modelled on, one-api/new-api style gateways: "stream must be
# true", "only stream mode is supported", "non-streaming is not supported".
_STREAM_ONLY = re.compile(
    rf"(?:{_STREAM}\s+(?:must|should|has\s+to|needs\s+to)\s+be\s+(?:true|enabled|on)\b"
    rf"|\bonly\s+(?:supports?\s+)?{_STREAM}"
    rf"|{_STREAM}[-\s]only\b"
    r"|\bnon[-_\s]?stream(?:ing|ed)?\b[\w\s()-]{0,40}?\bnot\s+(?:supported|allowed|available)\b"
    rf"|\b(?:requires?|required)\s+{_STREAM}"
    rf"|{_STREAM}(?:\s+mode)?\s+is\s+required\b"
    r"|\bstream\s*[=:]\s*false\b[\w\s]{0,20}?\bnot\s+(?:supported|allowed)\b)" + _NOT_TURNED,
    re.IGNORECASE,
)

# "Streaming is not supported", "does not support streaming", "stream must be false".
_NO_STREAMING = re.compile(
    rf"{_STREAM}(?:\s+(?:mode|requests?|responses?|output))?\s+(?:is\s+|are\s+)?"
    r"(?:not\s+(?:supported|allowed|available|enabled)|unsupported|disabled)\b"
    rf"|\b(?:does|do|can)\s*(?:not|n't)\s+(?:support\s+)?{_STREAM}"
    rf"|{_STREAM}\s+(?:must|should|has\s+to|needs\s+to)\s+be\s+(?:false|disabled|off)\b"
    rf"|\b(?:requires?|required|only)\s+{_STREAM}(?:\s*[=:]\s*|\s+to\s+be\s+)"
    r"(?:false|disabled|off)\b"
    r"|\bstream\s*[=:]\s*true\b[\w\s]{0,20}?\bnot\s+(?:supported|allowed)\b",
    re.IGNORECASE,
)


def _words(exc: BaseException) -> str | None:
    if not isinstance(exc, GatewayError) or exc.status is None or not 400 <= exc.status < 500:
        return None
    return getattr(exc, "gateway_message", "") or str(exc)


def refuses_non_streaming(exc: BaseException) -> bool:
    """Whether ``exc`` is a 4xx in which the gateway says it only answers streaming requests."""
    words = _words(exc)
    return words is not None and _STREAM_ONLY.search(words) is not None


def refuses_streaming(exc: BaseException) -> bool:
    """Whether ``exc`` is a 4xx in which the gateway says it does not answer streaming ones."""
    words = _words(exc)
    return words is not None and _NO_STREAMING.search(words) is not None
