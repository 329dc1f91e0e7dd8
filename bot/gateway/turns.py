"""Raw assistant turns with their image data moved aside, and put back verbatim.

A Gemini turn must be replayed exactly as received (``thoughtSignature`` values
included), but storing it as-is would keep every multi-MB base64 image twice (once in
the turn, once as the image blob). ``strip_inline_data`` swaps each payload for a
reference to its bytes' SHA-256; ``restore_inline_data`` rebuilds the identical turn.

* ``inlineData.data`` (or ``inline_data.data``) becomes ``{"$blob": sha256}``.
* Inside any other string (chat ``image_url.url``, Markdown in ``content``), the
  base64 payload of each ``data:...;base64,`` URI becomes ``$blob:<sha256>``.

Only payloads in canonical padded base64 are swapped, because only those re-encode to
the same string; anything else (line breaks, URL-safe alphabet, no padding) stays
inline. Text that already looks like a reference is escaped (``$blob:`` gains a ``$``;
a one-key ``{"$blob"|"$literal": ...}`` object is wrapped in ``{"$literal": ...}``),
so restoring is exact for any JSON value.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

import pybase64

BLOB_KEY = "$blob"
LITERAL_KEY = "$literal"
# Turns are shallow (turn → parts → part → inlineData); a much deeper one is junk.
MAX_DEPTH = 64


class TurnTooDeep(ValueError):
    """The value nests deeper than any real turn; refused rather than recursed into."""


_DATA_URI_HEAD = re.compile(r"data:[\w.+-]+/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,")
_B64_RUN = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_B64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
_B64_VALUES = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}
_TAIL_BITS = {1: 0x03, 2: 0x0F}  # padding length -> low bits the last digit must leave zero
# A data URI header is short; looking further back for "data:" is wasted work.
_MAX_HEAD = 256
_KEY_CHARS = 48
_MARKER = re.compile(r"(?<!\$)\$blob:([0-9a-f]{64})")
_DOLLARS = re.compile(r"(\$+)blob:")
_RESTORE = re.compile(r"(\$+)blob:([0-9a-f]{64})?")
_INLINE_KEYS = ("inlineData", "inline_data")


def is_canonical_b64(payload: str) -> bool:
    """Whether ``payload``, already decoded with ``validate=True``, re-encodes to itself.

    Strict decoding has checked the alphabet and the padding's place; what remains is
    that the unused low bits of the last digit are zero. O(1) instead of a re-encode.
    """
    if len(payload) % 4:
        return False
    pad = 2 if payload.endswith("==") else 1 if payload.endswith("=") else 0
    if not pad:
        return True
    return not (_B64_VALUES.get(payload[-pad - 1], 0xFF) & _TAIL_BITS[pad])


class Payload:
    """One base64 payload already decoded (strictly), with its digest: decoded once, hashed once."""

    __slots__ = ("text", "raw", "digest", "canonical")

    def __init__(self, text: str, raw: bytes, digest: str | None = None) -> None:
        self.text = text
        self.raw = raw
        self.digest = digest or hashlib.sha256(raw).hexdigest()
        self.canonical = is_canonical_b64(text)


class DecodedPayloads:
    """Payloads the parser already decoded, found again without hashing multi-MB strings."""

    def __init__(self) -> None:
        self._by_head: dict[str, list[Payload]] = {}

    def add(self, payload: Payload) -> None:
        self._by_head.setdefault(payload.text[:_KEY_CHARS], []).append(payload)

    def get(self, text: str) -> Payload | None:
        for entry in self._by_head.get(text[:_KEY_CHARS], ()):
            if entry.text is text or entry.text == text:
                return entry
        return None

    def at(self, text: str, begin: int) -> Payload | None:
        """The known payload that is the whole base64 run starting at ``text[begin]``."""
        for entry in self._by_head.get(text[begin : begin + _KEY_CHARS], ()):
            end = begin + len(entry.text)
            if text.startswith(entry.text, begin) and (
                end == len(text) or text[end] not in _B64_CHARS
            ):
                return entry
        return None


def _decode_strict(payload: str) -> Payload | None:
    try:
        return Payload(payload, pybase64.b64decode(payload, validate=True))
    except ValueError:
        return None


class _Stripper:
    def __init__(self, decoded: DecodedPayloads | Mapping[str, bytes] | None) -> None:
        self.blobs: dict[str, bytes] = {}
        # Payloads the caller already decoded: reusing those bytes objects lets pickle
        # send each image once when the result crosses back from a worker process.
        if isinstance(decoded, DecodedPayloads):
            self.known = decoded
        else:
            self.known = DecodedPayloads()
            for text, raw in (decoded or {}).items():
                self.known.add(Payload(text, raw))

    def canonical(self, payload: str) -> Payload | None:
        """The decoded ``payload`` if it is canonical padded base64, else None."""
        entry = self.known.get(payload) or _decode_strict(payload)
        return entry if entry is not None and entry.canonical else None

    def put(self, entry: Payload) -> str:
        self.blobs[entry.digest] = entry.raw
        return entry.digest

    def string(self, text: str) -> str:
        if "blob:" in text:
            text = _DOLLARS.sub(lambda m: "$" + m.group(0), text)
        if "base64," not in text:
            return text
        # str.find (memchr) to locate each URI, and the parser's own decode to bound it:
        # a regex over tens of MB of base64 costs more than the rest of the parse.
        pieces: list[str] = []
        done = 0
        at = text.find("base64,")
        while at >= 0:
            begin = at + 7
            head = _uri_head(text, at)
            entry = self.known.at(text, begin) if head >= 0 else None
            if head >= 0 and entry is None:
                run = _B64_RUN.match(text, begin)
                if run is not None:
                    entry = _decode_strict(run.group(0))
            if entry is not None and entry.canonical:
                pieces.append(text[done:begin])
                pieces.append(f"$blob:{self.put(entry)}")
                done = begin + len(entry.text)
                at = text.find("base64,", done)
            else:
                at = text.find("base64,", begin)
        if not pieces:
            return text
        pieces.append(text[done:])
        return "".join(pieces)

    def value(self, value: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TurnTooDeep()
        if isinstance(value, str):
            return self.string(value)
        if isinstance(value, list):
            return [self.value(item, depth + 1) for item in value]
        if isinstance(value, Mapping):
            out: dict[str, Any] = {}
            if _looks_special(value):
                return {LITERAL_KEY: {k: self.value(v, depth + 1) for k, v in value.items()}}
            for key, item in value.items():
                if key in _INLINE_KEYS and isinstance(item, Mapping) and not _looks_special(item):
                    out[key] = self.inline(item, depth + 1)
                else:
                    out[key] = self.value(item, depth + 1)
            return out
        return value

    def inline(self, inline: Mapping[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, item in inline.items():
            entry = self.canonical(item) if key == "data" and isinstance(item, str) else None
            if entry is not None:
                out[key] = {BLOB_KEY: self.put(entry)}
            else:
                out[key] = self.value(item, depth + 1)
        return out


def strip_inline_data(
    turn: Mapping[str, Any], decoded: DecodedPayloads | Mapping[str, bytes] | None = None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """``turn`` with image payloads replaced by references, and the referenced bytes.

    ``decoded`` optionally holds base64 payloads the caller already decoded (a
    ``DecodedPayloads``, or a mapping of payload to bytes).
    Raises TurnTooDeep for values nested deeper than ``MAX_DEPTH``.
    """
    stripper = _Stripper(decoded)
    return stripper.value(turn, 0), stripper.blobs


def _uri_head(text: str, at: int) -> int:
    """Start of the ``data:<type>;...;base64,`` header ending at ``text[at]``, or -1."""
    start = text.rfind("data:", max(0, at - _MAX_HEAD), at)
    if start < 0 or _DATA_URI_HEAD.fullmatch(text, start, at + 7) is None:
        return -1
    return start


def _looks_special(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and (BLOB_KEY in value or LITERAL_KEY in value)


def _is_ref(value: Any) -> bool:
    return isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get(BLOB_KEY), str)


def _is_literal(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and isinstance(value.get(LITERAL_KEY), Mapping)
    )


def _restore(value: Any, blobs: Mapping[str, bytes], depth: int) -> Any:
    if depth > MAX_DEPTH + 2:
        raise TurnTooDeep()
    if isinstance(value, str):
        if "blob:" not in value:
            return value

        def fill(match: re.Match[str]) -> str:
            dollars, digest = match.group(1), match.group(2) or ""
            if len(dollars) > 1:  # escaped original text
                return dollars[1:] + "blob:" + digest
            raw = blobs.get(digest)
            if raw is None:
                raise KeyError(f"image blob {digest or '?'} is missing")
            return pybase64.b64encode_as_string(raw)

        return _RESTORE.sub(fill, value)
    if _is_literal(value):
        return {k: _restore(v, blobs, depth + 1) for k, v in value[LITERAL_KEY].items()}
    if _is_ref(value):
        digest = value[BLOB_KEY]
        try:
            return pybase64.b64encode_as_string(blobs[digest])
        except KeyError:
            raise KeyError(f"image blob {digest} is missing") from None
    if isinstance(value, list):
        return [_restore(item, blobs, depth + 1) for item in value]
    if isinstance(value, Mapping):
        return {key: _restore(item, blobs, depth + 1) for key, item in value.items()}
    return value


def restore_inline_data(turn: Mapping[str, Any], blobs: Mapping[str, bytes]) -> dict[str, Any]:
    """The verbatim turn ``strip_inline_data`` started from; KeyError if a blob is missing."""
    return _restore(turn, blobs, 0)


def blob_refs(turn: Any) -> set[str]:
    """SHA-256 digests a stripped turn refers to (what a store must keep)."""
    found: set[str] = set()
    stack: list[tuple[Any, int]] = [(turn, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH + 2:
            continue
        if isinstance(value, str):
            found.update(_MARKER.findall(value))
        elif _is_literal(value):
            stack.extend((item, depth + 1) for item in value[LITERAL_KEY].values())
        elif _is_ref(value):
            found.add(value[BLOB_KEY])
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, Mapping):
            stack.extend((item, depth + 1) for item in value.values())
    return found
