"""The events of one streamed answer, assembled into the one payload the parser reads.

* OpenAI-style chunks (``choices[].delta``) become a ``chat.completion``: content
  strings joined in order (a Markdown data URL split across chunks is whole again),
  content parts, ``images`` (and LiteLLM's singular ``image``) appended, reasoning
  accumulated, the first role, the last finish reasons, ``usage`` from any chunk (often
  a last one with ``choices: []``). Choice indexes are kept apart.
* Google ``streamGenerateContent?alt=sse`` chunks become one ``GenerateContentResponse``:
  each candidate's parts concatenated exactly as received (thought parts and every
  ``thoughtSignature`` kept; the parser leaves thought images out of the stored turn),
  its last ``finishReason``, the last ``usageMetadata``, ``modelVersion`` and ``promptFeedback``.
* Any other JSON event (an images-API body sent as one event) is passed on as it is.

The kind of stream is decided by its first chat or Google chunk: pings
(``{"type": "ping"}``), envelopes with no ``choices`` and Google's
``{"responseId", "modelVersion"}`` before it do not decide it, and their envelope
fields are kept.

An error (top-level ``error``, ``choices[].error``, ``finish_reason: "error"``, a chunk
of ``"type": "error"``, or any event named ``error``, JSON or plain text) can come
after HTTP 200 was sent; it becomes the project's error here, through ``map_error``,
so the gateway's own words reach the user.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from bot.errors import GatewayUnavailable, ImagineError, MalformedResponse
from bot.gateway.error_body import find_error
from bot.gateway.errors_map import map_error
from bot.gateway.sse import RawSSEEvent, SSEEvent
from bot.i18n import _

Event = SSEEvent | RawSSEEvent

DONE = "[DONE]"
NO_ANSWER = _("The image service's stream ended without an answer.")
NOT_UNDERSTOOD = _("The image service sent a stream that could not be understood.")
ERROR_MIDWAY = _(
    "The image service reported an error part-way through its answer. Try again in a minute."
)
_GOOGLE_KEYS = (
    "candidates",
    "promptFeedback",
    "prompt_feedback",
    "usageMetadata",
    "usage_metadata",
)
_MARKER_CHARS = 64
_CHAT_TOP = ("id", "created", "model", "system_fingerprint", "provider")


def _text(data: str | bytes | memoryview) -> str:
    return data if isinstance(data, str) else str(data, "utf-8", "replace")


def _chunks(events: Iterable[Event]) -> tuple[list[Any], list[Event], int]:
    """The JSON chunks up to ``[DONE]``, the events that were not JSON, and the data count.

    An event named ``error`` becomes a chunk ``find_error`` sees as one, whatever its
    data: JSON (its error object, or the object itself) or plain text (the words).
    """
    chunks: list[Any] = []
    garbage: list[Event] = []
    seen = 0
    for event in events:
        if len(event.data) <= _MARKER_CHARS:  # only short data can be a marker or blank
            marker = _text(event.data).strip()
            if marker == DONE:
                break
            if not marker and event.event != "error":
                continue
        seen += 1
        try:
            chunk = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            if event.event != "error":
                garbage.append(event)
                continue
            chunk = _text(event.data).strip()
        if event.event == "error" and _error_in(chunk) is None:
            chunk = {"error": chunk or True}
        chunks.append(chunk)
    return chunks, garbage, seen


def _error_in(chunk: Any) -> Any | None:
    error = find_error(chunk)
    if error is None and isinstance(chunk, Mapping):
        if isinstance(chunk.get("choices"), list):
            for choice in chunk["choices"]:
                if isinstance(choice, Mapping) and choice.get("error"):
                    return choice["error"]
        if chunk.get("type") == "error":  # {"type": "error", "message": ..., "code": ...}
            return chunk
    return error


def stream_error(
    events: Iterable[Event],
    status: int,
    *,
    retry_after: str | None = None,
    model: str | None = None,
) -> ImagineError:
    """The project's error for an error status whose body is an event stream."""
    chunks, _kinds, _seen = _chunks(events)
    for chunk in chunks:
        error = _error_in(chunk)
        if error is not None:
            return map_error(status, error, retry_after=retry_after, model=model)
    return map_error(status, None, is_json=False, retry_after=retry_after, model=model)


class _Choice:
    def __init__(self, index: Any) -> None:
        self.index = index
        self.role: str | None = None
        self.content: list[Any] = []  # strings and content parts, in order
        self.images: list[Any] = []
        self.reasoning: dict[str, list[str]] = {}
        self.reasoning_details: list[Any] = []
        self.refusal: list[str] = []
        self.finish: dict[str, Any] = {}

    def add(self, choice: Mapping[str, Any]) -> None:
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            delta = choice.get("message")  # a whole message sent as one event
        if isinstance(delta, Mapping):
            self._add_delta(delta)
        for key in ("finish_reason", "native_finish_reason"):
            if choice.get(key) is not None:
                self.finish[key] = choice[key]

    def _add_delta(self, delta: Mapping[str, Any]) -> None:
        if self.role is None and isinstance(delta.get("role"), str):
            self.role = delta["role"]
        content = delta.get("content")
        if isinstance(content, str):
            self.content.append(content)
        elif isinstance(content, list):
            self.content.extend(content)
        if isinstance(delta.get("images"), list):
            self.images.extend(delta["images"])
        if delta.get("image") is not None:
            self.images.append(delta["image"])
        for key in ("reasoning", "reasoning_content"):
            if isinstance(delta.get(key), str):
                self.reasoning.setdefault(key, []).append(delta[key])
        if isinstance(delta.get("reasoning_details"), list):
            self.reasoning_details.extend(delta["reasoning_details"])
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": self.role or "assistant",
            "content": _content(self.content),
        }
        if self.images:
            message["images"] = self.images
        for key, pieces in self.reasoning.items():
            message[key] = "".join(pieces)
        if self.reasoning_details:
            message["reasoning_details"] = self.reasoning_details
        if self.refusal:
            message["refusal"] = "".join(self.refusal)
        return message

    def choice(self) -> dict[str, Any]:
        finish = {"finish_reason": None, **self.finish}
        return {"index": self.index, "message": self.message(), **finish}


def _content(pieces: list[Any]) -> Any:
    """One string when every piece was text, else parts with adjacent strings merged."""
    if not pieces:
        return None
    if all(isinstance(piece, str) for piece in pieces):
        return "".join(pieces)
    parts: list[Any] = []
    run: list[str] = []
    for piece in pieces + [None]:
        if isinstance(piece, str):
            run.append(piece)
            continue
        if run:
            parts.append({"type": "text", "text": "".join(run)})
            run = []
        if piece is not None:
            parts.append(piece)
    return parts


def _index(item: Mapping[str, Any], position: int) -> Any:
    index = item.get("index")
    return index if isinstance(index, int) and not isinstance(index, bool) else position


def _assemble_chat(chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    payload: dict[str, Any] = {"object": "chat.completion"}
    choices: dict[Any, _Choice] = {}
    for chunk in chunks:
        for key in _CHAT_TOP:
            if payload.get(key) is None and chunk.get(key) is not None:
                payload[key] = chunk[key]
        if isinstance(chunk.get("usage"), Mapping):
            payload["usage"] = chunk["usage"]
        listed = chunk.get("choices")
        for position, choice in enumerate(listed if isinstance(listed, list) else ()):
            if isinstance(choice, Mapping):
                index = _index(choice, position)
                choices.setdefault(index, _Choice(index)).add(choice)
    payload["choices"] = [choices[index].choice() for index in choices]
    return payload


def _assemble_google(chunks: list[Mapping[str, Any]]) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    candidates: dict[Any, dict[str, Any]] = {}
    for chunk in chunks:
        for key, value in chunk.items():
            if key != "candidates" and value is not None:
                payload[key] = value
        listed = chunk.get("candidates")
        for position, candidate in enumerate(listed if isinstance(listed, list) else ()):
            if not isinstance(candidate, Mapping):
                continue
            merged = candidates.setdefault(_index(candidate, position), {})
            for key, value in candidate.items():
                if key == "content" and isinstance(value, Mapping):
                    _merge_content(merged.setdefault("content", {}), value)
                elif value is not None:
                    merged[key] = value
    if candidates:
        payload["candidates"] = list(candidates.values())
    return payload


def _merge_content(merged: dict[str, Any], content: Mapping[str, Any]) -> None:
    for key, value in content.items():
        if key == "parts" and isinstance(value, list):
            merged.setdefault("parts", []).extend(value)  # exactly as received, no merging
        elif key == "role":
            merged.setdefault("role", value)
        elif value is not None:
            merged[key] = value


def _kind(chunk: Any) -> str | None:
    if not isinstance(chunk, Mapping):
        return None
    if isinstance(chunk.get("choices"), list):
        return "chat"
    if any(key in chunk for key in _GOOGLE_KEYS):
        return "google"
    return "other"


def assemble(
    events: Iterable[Event],
    *,
    status: int = 200,
    retry_after: str | None = None,
    model: str | None = None,
) -> Any:
    """The one payload of a streamed answer, or the project's error the stream carries."""
    chunks, _kinds, seen = _chunks(events)
    return assemble_chunks(
        chunks, status=status, retry_after=retry_after, model=model, empty=not seen
    )


def assemble_chunks(
    chunks: Iterable[Any],
    *,
    status: int = 200,
    retry_after: str | None = None,
    model: str | None = None,
    empty: bool = False,
) -> Any:
    """One payload from decoded chunks (SSE events, or Google's JSON array of responses).

    ``empty`` says the stream carried no data at all, for the sentence when none of it
    is understood.
    """
    kind = None  # the first chunk that is chat or Google decides; pings and envelopes don't
    kept: list[Mapping[str, Any]] = []
    others: list[Mapping[str, Any]] = []
    usage = None
    for chunk in chunks:
        error = _error_in(chunk)
        if error is not None:
            raise map_error(status, error, retry_after=retry_after, model=model)
        chunk_kind = _kind(chunk)
        if chunk_kind is None:
            continue
        if _finished_with_error(chunk):
            raise GatewayUnavailable(ERROR_MIDWAY)
        if isinstance(chunk.get("usage"), Mapping):
            usage = chunk["usage"]
            if chunk_kind == "other" and "data" not in chunk:
                continue  # a usage-only chunk, without even ``choices: []``
        if chunk_kind == "other":
            others.append(chunk)
            # Kept beside the answer for its envelope (id, model, modelVersion).
            if kind is not None:
                kept.append(chunk)
            continue
        if kind is None:
            kind = chunk_kind
            kept.extend(others)
        if chunk_kind == kind:
            kept.append(chunk)
    if kind == "chat":
        payload = _assemble_chat(kept)
        if usage is not None:
            payload["usage"] = usage
        return payload
    if kind == "google":
        return _assemble_google(kept)
    if others:
        # An images-API body sent as one event, perhaps between pings.
        return next((c for c in reversed(others) if "data" in c), others[-1])
    raise MalformedResponse(NO_ANSWER if empty else NOT_UNDERSTOOD)


def is_google_chunk(chunk: Any) -> bool:
    """Whether ``chunk`` is one ``GenerateContentResponse`` of a stream."""
    return _kind(chunk) == "google"


def _finished_with_error(chunk: Mapping[str, Any]) -> bool:
    choices = chunk.get("choices")
    return isinstance(choices, list) and any(
        isinstance(choice, Mapping) and choice.get("finish_reason") == "error" for choice in choices
    )
