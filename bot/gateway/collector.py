"""Images, hosted-image URLs and text gathered from one answer's parts, in order.

Image references come as data URIs, http(s) URLs (kept for the client to download) or
bare base64 without a ``data:`` prefix, alone or as Markdown images ``![..](...)``
inside text. The MIME type a gateway claims is ignored: each image is verified and typed
from its bytes by ``bot.images.outputs.inspect_output``. Identical images sent twice
(some gateways put one in both ``content`` and ``images``) count once.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote_to_bytes

import pybase64

from bot.errors import ImagineError
from bot.gateway.turns import DecodedPayloads, Payload
from bot.images.outputs import inspect_output
from bot.images.sniff import sniff_mime
from bot.types import GeneratedImage

_MARKDOWN_IMAGE = re.compile(
    r"!\[[^\]\n]{0,300}\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"\n]{0,300}\")?\s*\)"
)
# The head of a Markdown image up to where its URL starts; bounded, so cheap to match.
_MARKDOWN_HEAD = re.compile(r"!\[[^\]\n]{0,300}\]\(\s*<?")
_BARE_DATA_URI = re.compile(r"data:image/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,[A-Za-z0-9+/=_-]+")
_BASE64ISH = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
MIN_BARE_BASE64 = 64  # a real image is far longer; shorter strings are text


def decode_base64(text: str) -> bytes | None:
    """Bytes of standard, URL-safe, unpadded or line-wrapped base64; None if it is not."""
    try:
        return pybase64.b64decode(text, validate=True)
    except ValueError:
        return _decode_lenient(text)


def _decode_lenient(text: str) -> bytes | None:
    cleaned = re.sub(r"\s+", "", text).replace("-", "+").replace("_", "/").rstrip("=")
    if not cleaned or len(cleaned) % 4 == 1:
        return None
    try:
        return pybase64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except ValueError:
        return None


class Collector:
    """Images, URLs and text gathered from one response, in order of appearance."""

    def __init__(self) -> None:
        self.images: list[GeneratedImage] = []
        self.digests: list[str] = []
        self.urls: list[str] = []
        self.texts: list[str] = []
        self.broken = 0
        # Strictly decoded payloads, so the turn stripper neither decodes nor hashes again.
        self.decoded = DecodedPayloads()
        self._seen: set[str] = set()

    def add_bytes(self, data: bytes, digest: str | None = None) -> None:
        try:
            image = inspect_output(data)
        except ImagineError:
            self.broken += 1
            return
        digest = digest or hashlib.sha256(data).hexdigest()
        if digest not in self._seen:
            self._seen.add(digest)
            self.images.append(image)
            self.digests.append(digest)

    def add_base64(self, payload: str) -> None:
        entry = self.decode(payload)
        if entry is None:
            self.broken += 1
        else:
            self.add_bytes(*entry)

    def decode(self, payload: str) -> tuple[bytes, str | None] | None:
        """Bytes of a payload (and its digest when strictly decoded), decoding it once."""
        known = self.decoded.get(payload)
        if known is None:
            try:
                raw = pybase64.b64decode(payload, validate=True)
            except ValueError:
                data = _decode_lenient(payload)
                return None if data is None else (data, None)
            known = Payload(payload, raw)
            self.decoded.add(known)
        return known.raw, known.digest

    def add_reference(self, ref: str) -> None:
        """A data URI, an http(s) URL or bare base64."""
        ref = ref.strip()
        if ref[:5].lower() == "data:":
            header, _, payload = ref.partition(",")
            if ";base64" in header.lower():
                self.add_base64(payload)
            else:
                self.add_bytes(unquote_to_bytes(payload))
        elif ref[:8].lower() == "https://" or ref[:7].lower() == "http://":
            if ref not in self.urls:
                self.urls.append(ref)
        elif len(ref) >= MIN_BARE_BASE64 and _BASE64ISH.fullmatch(ref):
            self.add_base64(ref)

    def add_text(self, text: str) -> None:
        """Text that may carry Markdown images or data URIs; the rest is model text."""
        if "](" in text or "data:image/" in text:
            text = self._extract_markdown(text)
        stripped = text.strip()
        if not stripped:
            return
        if (
            len(stripped) >= MIN_BARE_BASE64
            and " " not in stripped
            and _BASE64ISH.fullmatch(stripped)
        ):
            entry = self.decode(stripped)
            if entry is not None and sniff_mime(entry[0]):
                self.add_bytes(*entry)
                return
        self.texts.append(stripped)

    def _fast_data_image(self, text: str, url_start: int) -> int:
        """End (after ``)``) of a Markdown image whose URL is a data URI, or -1.

        Bounded by ``str.find`` and checked by the strict decode: when the payload runs
        cleanly up to the ``)``, the regex would have matched exactly this span.
        """
        comma = text.find(",", url_start, url_start + 300)
        close = text.find(")", url_start)
        if comma < 0 or close < 0 or comma > close:
            return -1
        header = text[url_start:comma].lower()
        if not header.startswith("data:image/") or not header.endswith(";base64"):
            return -1
        if any(c.isspace() or c == ">" for c in header):
            return -1
        payload = text[comma + 1 : close]
        if self.decoded.get(payload) is None:
            try:
                self.decoded.add(Payload(payload, pybase64.b64decode(payload, validate=True)))
            except ValueError:
                return -1
        self.add_base64(payload)
        return close + 1

    def _extract_markdown(self, text: str) -> str:
        def markdown(match: re.Match[str]) -> str:
            url = match.group(1)
            if url[:5].lower() in ("data:", "http:", "https"):
                self.add_reference(url)
                return ""
            return match.group(0)

        def bare(match: re.Match[str]) -> str:
            self.add_reference(match.group(0))
            return ""

        kept: list[str] = []
        done = 0
        at = text.find("![")
        while at >= 0:
            head = _MARKDOWN_HEAD.match(text, at)
            if head is None:
                at = text.find("![", at + 2)
                continue
            end = self._fast_data_image(text, head.end())
            if end < 0:
                # Not a clean data URI (a link, a title, wrapped base64): the full
                # pattern, anchored here, decides as before.
                full = _MARKDOWN_IMAGE.match(text, at)
                if full is None:
                    at = text.find("![", at + 2)
                    continue
                replacement = markdown(full)
                end = full.end()
                if replacement:
                    at = text.find("![", end)
                    continue
            kept.append(text[done:at])
            done = end
            at = text.find("![", end)
        if kept:
            kept.append(text[done:])
            text = "".join(kept)
        if "data:image/" not in text:
            return text
        return _BARE_DATA_URI.sub(bare, text)

    def add_part(self, part: Any) -> None:
        """One content part / image entry in any of the known shapes."""
        if isinstance(part, str):
            self.add_reference(part)
            return
        if not isinstance(part, Mapping) or part.get("thought") is True:
            return
        if isinstance(part.get("text"), str):
            self.add_text(part["text"])
        image_url = part.get("image_url")
        if isinstance(image_url, Mapping):
            image_url = image_url.get("url")
        if isinstance(image_url, str):
            self.add_reference(image_url)
        for key in ("inlineData", "inline_data", "source"):
            inline = part.get(key)
            if isinstance(inline, Mapping) and isinstance(inline.get("data"), str):
                self.add_base64(inline["data"])
        for key in ("fileData", "file_data"):
            file_data = part.get(key)
            if isinstance(file_data, Mapping):
                uri = file_data.get("fileUri") or file_data.get("file_uri")
                if isinstance(uri, str):
                    self.add_reference(uri)
        for key in ("b64_json", "url", "data"):
            value = part.get(key)
            if isinstance(value, str):
                self.add_reference(value)
            elif key == "data" and isinstance(value, Mapping):
                self.add_part(value)

    @property
    def text(self) -> str:
        return "\n".join(self.texts).strip()
