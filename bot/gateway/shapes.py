"""Readers of the three answer shapes: chat completions, Google's native answer, images API.

Accepted, in any combination and any number of images:

* chat ``message.content`` as a string with Markdown images ``![..](data:...)`` or
  ``![..](https://...)``, or bare ``data:image/...`` URIs; the text around them is kept;
* ``message.content`` as an array of parts: ``text`` parts (Markdown inside too) and
  ``image_url`` parts (``{"url": ...}`` or a plain string);
* ``message.images[]`` (OpenRouter), with ``content: null``;
* native ``candidates[].content.parts[].inlineData`` (or ``fileData``); parts marked
  ``thought: true`` are interim drafts, not results; ``raw_turn`` keeps their text and
  every ``thoughtSignature`` but not their images (never stored, never replayed);
* OpenAI images-API ``data[].b64_json`` / ``data[].url``;
* LiteLLM's singular ``message.image``, and native fields in snake_case.

Each reader fills a ``Collector`` and returns the turn's facts (``raw_turn``, ``blobs``,
``finish``) and the block reason, if a filter stopped the image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.errors import MalformedResponse
from bot.gateway.collector import Collector
from bot.gateway.turns import TurnTooDeep, strip_inline_data
from bot.i18n import Text, _
from bot.types import Usage

# Finish reasons that mean a filter stopped the image, with words for the user.
# Translators: {reason} is the service's own code for the block (SAFETY), shown as it is.
_SAFETY = _("The image service blocked this request for safety reasons ({reason}).")
_PROHIBITED = _(
    "The image service blocked this request because it asks for prohibited content ({reason})."
)
_RECITATION = _(
    "The image service blocked this request because the result resembled existing protected "
    "material ({reason})."
)
# Each reason's sentence; its ``{reason}`` is filled when raised (bot.gateway.parsing).
BLOCK_REASONS: dict[str, Text] = {
    "SAFETY": _SAFETY,
    "IMAGE_SAFETY": _SAFETY,
    "PROHIBITED_CONTENT": _PROHIBITED,
    "IMAGE_PROHIBITED_CONTENT": _PROHIBITED,
    "BLOCKLIST": _(
        "The image service blocked this request because it contains blocked terms ({reason})."
    ),
    "SPII": _(
        "The image service blocked this request because it may involve sensitive personal "
        "information ({reason})."
    ),
    "RECITATION": _RECITATION,
    "IMAGE_RECITATION": _RECITATION,
    "CONTENT_FILTER": _SAFETY,
    "BLOCKED": _SAFETY,
}


def get_field(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A native field by its camelCase name, or by the snake_case some relays send."""
    value = mapping.get(camel)
    return mapping.get(snake) if value is None else value


def nonempty_str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def read_usage(payload: Mapping[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if isinstance(usage, Mapping):
        result = Usage(
            prompt_tokens=_count(usage.get("prompt_tokens", usage.get("input_tokens"))),
            completion_tokens=_count(usage.get("completion_tokens", usage.get("output_tokens"))),
            total_tokens=_count(usage.get("total_tokens")),
        )
    else:
        meta = get_field(payload, "usageMetadata", "usage_metadata")
        if not isinstance(meta, Mapping):
            return None
        candidates = _count(get_field(meta, "candidatesTokenCount", "candidates_token_count"))
        thoughts = _count(get_field(meta, "thoughtsTokenCount", "thoughts_token_count"))
        # Thinking tokens are billed as output, as OpenAI-style gateways report them.
        if candidates is not None and thoughts is not None:
            candidates += thoughts
        result = Usage(
            prompt_tokens=_count(get_field(meta, "promptTokenCount", "prompt_token_count")),
            completion_tokens=candidates,
            total_tokens=_count(get_field(meta, "totalTokenCount", "total_token_count")),
        )
    if result == Usage():
        return None
    if (
        result.total_tokens is None
        and result.prompt_tokens is not None
        and result.completion_tokens is not None
    ):
        result = Usage(
            result.prompt_tokens,
            result.completion_tokens,
            result.prompt_tokens + result.completion_tokens,
        )
    return result


def _strip_turn(turn: Any, collector: Collector) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    if not isinstance(turn, Mapping):
        return None, {}
    try:
        return strip_inline_data(turn, collector.decoded)
    except TurnTooDeep:
        return None, {}  # junk no one could replay; the images are what matters


def read_chat(
    payload: Mapping[str, Any], collector: Collector
) -> tuple[dict[str, Any], str | None]:
    choices = payload.get("choices")
    if not isinstance(choices, list):
        raise MalformedResponse()
    finish: str | None = None
    native: str | None = None
    first_message: Any = None
    for choice in choices:
        if not isinstance(choice, Mapping):
            continue
        message = choice.get("message")
        if not isinstance(message, Mapping):
            message = choice.get("delta")
        if isinstance(message, Mapping):
            if first_message is None:
                first_message = message
            content = message.get("content")
            if isinstance(content, str):
                collector.add_text(content)
            elif isinstance(content, list):
                for part in content:
                    if isinstance(part, str):
                        collector.add_text(part)
                    else:
                        collector.add_part(part)
            images = message.get("images")
            if isinstance(images, list):
                for image in images:
                    collector.add_part(image)
            if message.get("image") is not None:  # LiteLLM before 1.77: {"url", "detail"}
                collector.add_part(message["image"])
            refusal = nonempty_str(message.get("refusal"))
            if refusal:
                collector.texts.append(refusal.strip())
        finish = finish or nonempty_str(choice.get("finish_reason"))
        native = native or nonempty_str(choice.get("native_finish_reason"))
    raw_turn, blobs = _strip_turn(first_message, collector)
    facts = {"raw_turn": raw_turn, "blobs": blobs, "finish": finish}
    block = None
    for reason in (native, finish):
        if reason and reason.upper() in BLOCK_REASONS:
            block = reason.upper()
            break
    return facts, block


def _is_text_part(part: Any) -> bool:
    return (
        isinstance(part, Mapping)
        and isinstance(part.get("text"), str)
        and part.get("thought") is not True
        and set(part) <= {"text", "thoughtSignature", "thought_signature"}
    )


def _add_google_parts(parts: list[Any], collector: Collector) -> None:
    """Parts in order, consecutive text parts as one text.

    Gemini splits its text across parts anywhere (a stream gives one part per chunk,
    mid-word, and a relay's Markdown image may straddle two); its own SDK joins them
    with nothing in between, and so must we, or words and data URLs break apart.
    """
    pending: list[str] = []
    for part in parts:
        if _is_text_part(part):
            pending.append(part["text"])
            continue
        if pending:
            collector.add_text("".join(pending))
            pending = []
        collector.add_part(part)
    if pending:
        collector.add_text("".join(pending))


_IMAGE_KEYS = ("inlineData", "inline_data", "fileData", "file_data")
_SIGNATURE_KEYS = ("thoughtSignature", "thought_signature")


def _without_thought_images(content: Any) -> Any:
    """``content`` with the images of its thought parts left out.

    A thought image is a draft: storing it would keep megabytes no one asked for, and
    replaying it would hand the model its own discarded draft. A signature is what
    Gemini 3 checks on replay, so a thought part that carries one keeps it (and its
    text); a thought part left with nothing but its flag goes.
    """
    if not isinstance(content, Mapping) or not isinstance(content.get("parts"), list):
        return content
    parts: list[Any] = []
    for part in content["parts"]:
        if (
            isinstance(part, Mapping)
            and part.get("thought") is True
            and any(key in part for key in _IMAGE_KEYS)
        ):
            part = {k: v for k, v in part.items() if k not in _IMAGE_KEYS}
            if not any(key in part for key in (*_SIGNATURE_KEYS, "text")):
                continue
        parts.append(part)
    return {**content, "parts": parts}


def read_google(
    payload: Mapping[str, Any], collector: Collector
) -> tuple[dict[str, Any], str | None]:
    candidates = payload.get("candidates")
    finish: str | None = None
    first_content: Any = None
    if isinstance(candidates, list):
        for candidate in candidates:
            if not isinstance(candidate, Mapping):
                continue
            finish = finish or nonempty_str(get_field(candidate, "finishReason", "finish_reason"))
            content = candidate.get("content")
            if not isinstance(content, Mapping):
                continue
            if first_content is None:
                first_content = content
            parts = content.get("parts")
            if isinstance(parts, list):
                _add_google_parts(parts, collector)
    raw_turn, blobs = _strip_turn(_without_thought_images(first_content), collector)
    facts = {"raw_turn": raw_turn, "blobs": blobs, "finish": finish}
    block = None
    feedback = get_field(payload, "promptFeedback", "prompt_feedback")
    reason = (
        nonempty_str(get_field(feedback, "blockReason", "block_reason"))
        if isinstance(feedback, Mapping)
        else None
    )
    if reason:
        block = reason.upper()
        if block == "BLOCK_REASON_UNSPECIFIED":
            block = "BLOCKED"
    elif finish and finish.upper() in BLOCK_REASONS:
        block = finish.upper()
    return facts, block


def read_images_api(
    payload: Mapping[str, Any], collector: Collector
) -> tuple[dict[str, Any], None]:
    for item in payload["data"]:
        collector.add_part(item)
    return {"raw_turn": None, "blobs": {}, "finish": None}, None
