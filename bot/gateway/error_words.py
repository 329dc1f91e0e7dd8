"""The gateway's own words in an error, made fit for a user, or nothing.

The words are the error's message, prefixed by the first of ``code``, ``status``,
``type`` that is one identifier, not a generic category (``GENERIC_LABELS``), not a
placeholder (``JUNK_WORDS``: "None", "null", "failed"...), not an exception class
("TypeError", "java.lang.IllegalStateException") and not already in the message
(``label_of``), then "(from <provider_name>)" when OpenRouter names the provider.

What is not for users goes first (``clean``):

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

import html
import re
from collections.abc import Mapping
from typing import Any

from bot.secrets import scrub_credentials

MAX_DETAIL_CHARS = 200
# How much of a message is read for its sentences (the rest is past any cut).
MAX_SCAN_CHARS = 8 * MAX_DETAIL_CHARS
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


def junk(text: str) -> bool:
    """Words that say nothing: "", ".", "null", "None", "<nil>", "{}", "Error:" and kin."""
    bare = re.sub(r"[\W_]+", "", text.lower())
    return len(bare) < 2 or bare in JUNK_WORDS


def label_of(error: Mapping[str, Any], message: str) -> str:
    """The code worth showing before the message (``GENERIC_LABELS`` and kin are not), or ""."""
    said_already = re.sub(r"[_.\-]+", " ", message.lower())
    for key in ("code", "status", "type"):
        value = error.get(key)
        if (
            isinstance(value, str)
            and _LABEL.fullmatch(value)
            and value.lower() not in GENERIC_LABELS
            and not junk(value)
            and not _CLASS_NAME.fullmatch(value)
            and re.sub(r"[_.\-]+", " ", value.lower()) not in said_already
        ):
            return value
    return ""


def clean(message: str) -> str:
    """The message without what is not for users: class-name prefixes, dumps, nothing-words."""
    if _DUMP.search(message):
        return ""
    while match := _CLASS_PREFIX.match(message):
        message = message[match.end() :]
    return "" if junk(message) else message


def user_words(label: str, message: str, provider: str) -> tuple[str, str | None]:
    """The user-facing words and, for an HTML page, its title."""
    if _HTML_PAGE.search(message):
        title = _TITLE.search(message)
        return "", safe_detail(html.unescape(title.group(1))) if title else ""
    text = safe_detail(clean(message))
    if not text:
        return "", None
    if label and (label := safe_detail(label)):
        text = f"{label}: {text}"
    if provider and (provider := safe_detail(provider)):
        text = f"{text.rstrip('.')} (from {provider})"
    text = cut(text, MAX_DETAIL_CHARS)
    if text[-1] not in ".!?…":
        text += "."
    return text, None


def cut(text: str, limit: int) -> str:
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
        return ""  # a whole page is not a sentence; see user_words for its title
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
        return cut(text, MAX_DETAIL_CHARS)
    return text + "…" if cut_short else text
