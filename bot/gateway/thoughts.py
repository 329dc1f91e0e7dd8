"""The model's interim thoughts, spotted in a streamed answer as its bytes arrive.

Gemini 3 image models think before they answer: parts marked ``thought: true`` carry
thought text and interim thought images (Google's ``streamGenerateContent?alt=sse``);
chat relays stream the text as ``delta.reasoning`` (``reasoning_content``,
``reasoning_details[]``) and such images as ``delta.images[]`` entries or content parts
that keep ``thought: true``. None of it is a result (``Collector.add_part`` skips them);
it only feeds the progress message's preview.

``ThoughtWatcher.feed`` runs on the event loop with every piece of the body, so it
stays cheap: the SSE decoder scans each byte once, an event of up to
``SMALL_EVENT_BYTES`` is read with orjson (microseconds), and a larger one (an image's
base64) is only looked at around its ends for the ``"thought": true`` flag (base64
holds no quote, so the flag is outside the payload). The latest thought image's event
is kept as it came; ``preview_from_event`` decodes it in a worker, when an edit is due.
Once a part that is not a thought carries an image, the final answer has begun: no
more previews.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
import pybase64

from bot.gateway.sse import RawSSEDecoder, looks_like_event_stream
from bot.images.preview import preview_jpeg

# Events up to this size are parsed on the loop (orjson reads 64 KB in ~50 µs).
SMALL_EVENT_BYTES = 64 * 1024
# How far into each end of a large event the thought flag is looked for.
FLAG_WINDOW = 2048
# The thought text shown: the last line, at most this long.
THOUGHT_LINE_CHARS = 180
# Reasoning text kept to find its last line (chat streams send it token by token).
REASONING_TAIL_CHARS = 4096

_THOUGHT_FLAG = re.compile(rb'"thought"\s*:\s*true')
_IMAGE_KEYS = re.compile(rb'"(?:inlineData|inline_data|image_url|images|b64_json)"')
_INLINE_KEYS = ("inlineData", "inline_data")


def _is_thought(part: Any) -> bool:
    return isinstance(part, Mapping) and part.get("thought") is True


def _inline_payload(part: Mapping[str, Any]) -> str | None:
    for key in _INLINE_KEYS:
        inline = part.get(key)
        if isinstance(inline, Mapping) and isinstance(inline.get("data"), str):
            return inline["data"]
    return None


def _chat_image_payload(part: Mapping[str, Any]) -> str | None:
    """The base64 of a chat image entry or content part (a data URL, or bare)."""
    ref: Any = part.get("image_url")
    if isinstance(ref, Mapping):
        ref = ref.get("url")
    if not isinstance(ref, str):
        ref = part.get("b64_json")
    if not isinstance(ref, str):
        return _inline_payload(part)
    if ref[:5].lower() == "data:":
        header, _, ref = ref.partition(",")
        if ";base64" not in header.lower():
            return None
    return ref


def _google_parts(chunk: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    candidates = chunk.get("candidates")
    for candidate in candidates if isinstance(candidates, list) else ():
        content = candidate.get("content") if isinstance(candidate, Mapping) else None
        parts = content.get("parts") if isinstance(content, Mapping) else None
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, Mapping):
                yield part


def _chat_deltas(chunk: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    choices = chunk.get("choices")
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, Mapping) else None
        if isinstance(delta, Mapping):
            yield delta


def _chat_image_parts(delta: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for key in ("images", "content"):
        listed = delta.get(key)
        for part in listed if isinstance(listed, list) else ():
            if isinstance(part, Mapping) and (key == "images" or part.get("type") == "image_url"):
                yield part
    if isinstance(delta.get("image"), Mapping):
        yield delta["image"]


def thought_image_payload(chunk: Any) -> str | None:
    """The base64 of the last thought image in one decoded stream chunk, if any."""
    found = None
    if not isinstance(chunk, Mapping):
        return None
    for part in _google_parts(chunk):
        if _is_thought(part):
            found = _inline_payload(part) or found
    for delta in _chat_deltas(chunk):
        for part in _chat_image_parts(delta):
            if _is_thought(part):
                found = _chat_image_payload(part) or found
    return found


def preview_from_event(data: bytes) -> bytes | None:
    """Worker side: the small JPEG of the thought image in one event's data, or None."""
    try:
        payload = thought_image_payload(orjson.loads(data))
        if payload is None:
            return None
        return preview_jpeg(pybase64.b64decode(payload))
    except ValueError:  # not JSON, not base64: a draft we cannot show
        return None


def _last_line(text: str) -> str | None:
    for line in reversed(text.splitlines()):
        line = " ".join(line.replace("*", "").split())
        if line:
            if len(line) > THOUGHT_LINE_CHARS:
                line = line[: THOUGHT_LINE_CHARS - 1].rstrip() + "…"
            return line
    return None


class ThoughtWatcher:
    """The latest thought text and thought image of one streamed answer, as it arrives.

    ``image`` is the data of the latest event holding a thought image (``image_seq``
    counts them), ``text`` the latest thought line; ``on_change`` is called when
    either changes. ``finished``: the final answer has begun, nothing more will show.
    """

    def __init__(
        self, content_type: str | None = None, on_change: Callable[[], None] | None = None
    ) -> None:
        self._content_type = content_type
        self._on_change = on_change
        self._decoder: RawSSEDecoder | None = None
        self._decided = False
        self._reasoning = ""
        self.text: str | None = None
        self.image: bytes | memoryview | None = None
        self.image_seq = 0
        self.finished = False

    def feed(self, piece: bytes) -> None:
        """One piece of the body as it arrived (decoded, in order)."""
        if self.finished:
            return
        if not self._decided:
            self._decided = True
            if not looks_like_event_stream(piece, self._content_type):
                self.finished = True  # a plain answer: the progress stays as it is
                return
            self._decoder = RawSSEDecoder()
        assert self._decoder is not None
        changed = False
        for event in self._decoder.feed(piece):
            changed = self._event(event.data) or changed
            if self.finished:
                self._decoder = None  # the rest is the answer: the parser's, not ours
                break
        if changed and self._on_change is not None:
            self._on_change()

    def _event(self, data: bytes | memoryview) -> bool:
        if len(data) > SMALL_EVENT_BYTES:
            head, tail = bytes(data[:FLAG_WINDOW]), bytes(data[-FLAG_WINDOW:])
            if _THOUGHT_FLAG.search(head) or _THOUGHT_FLAG.search(tail):
                self.image, self.image_seq = data, self.image_seq + 1
                return True
            if _IMAGE_KEYS.search(head) or _IMAGE_KEYS.search(tail):
                self.finished = True  # the final image
            return False
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return False  # [DONE], a ping, junk: the parser judges it later
        if not isinstance(chunk, Mapping):
            return False
        return self._google(chunk, data) | self._chat(chunk, data)

    def _google(self, chunk: Mapping[str, Any], data: bytes | memoryview) -> bool:
        changed = False
        for part in _google_parts(chunk):
            thought = _is_thought(part)
            if _inline_payload(part) is not None or "fileData" in part:
                if not thought:
                    self.finished = True
                    return changed
            if not thought:
                continue
            if isinstance(part.get("text"), str):
                changed = self._set_text(part["text"]) or changed
        if "candidates" in chunk and thought_image_payload(chunk) is not None:
            return self._set_image(data)
        return changed

    def _chat(self, chunk: Mapping[str, Any], data: bytes | memoryview) -> bool:
        changed = False
        for delta in _chat_deltas(chunk):
            pieces = [delta.get(k) for k in ("reasoning", "reasoning_content")]
            details = delta.get("reasoning_details")
            for detail in details if isinstance(details, list) else ():
                if isinstance(detail, Mapping):
                    pieces += [detail.get("text"), detail.get("summary")]
            texts = [p for p in pieces if isinstance(p, str) and p]
            if texts:
                self._reasoning = (self._reasoning + "".join(texts))[-REASONING_TAIL_CHARS:]
                changed = self._set_text(self._reasoning) or changed
            for part in _chat_image_parts(delta):
                if not _is_thought(part):
                    self.finished = True
                    return changed
            content = delta.get("content")
            if isinstance(content, str) and "data:image/" in content:
                self.finished = True  # a Markdown image in the answer's own text
                return changed
        if self.finished:
            return changed
        if "choices" in chunk and thought_image_payload(chunk) is not None:
            return self._set_image(data)
        return changed

    def _set_text(self, text: str) -> bool:
        line = _last_line(text)
        if line is None or line == self.text:
            return False
        self.text = line
        return True

    def _set_image(self, data: bytes | memoryview) -> bool:
        self.image, self.image_seq = data, self.image_seq + 1
        return True
