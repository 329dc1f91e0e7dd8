"""Turn a gateway's answer into images, text and usage, whatever dialect was asked.

Runs in a CPU worker process (bodies hold multi-MB base64): ``parse_response`` is
top-level and returns a picklable ``ParsedResponse``, or raises one of the project's
errors (never anything else).

Accepted, in any combination and any number of images:

* chat ``message.content`` as a string with Markdown images ``![..](data:...)`` or
  ``![..](https://...)``, or bare ``data:image/...`` URIs; the text around them is kept;
* ``message.content`` as an array of parts: ``text`` parts (Markdown inside too) and
  ``image_url`` parts (``{"url": ...}`` or a plain string);
* ``message.images[]`` (OpenRouter), with ``content: null``;
* native ``candidates[].content.parts[].inlineData`` (or ``fileData``); parts marked
  ``thought: true`` are interim drafts, not results (kept in ``raw_turn`` only);
* OpenAI images-API ``data[].b64_json`` / ``data[].url``, and a raw image body;
* image references as data URIs, http(s) URLs (returned for the client to download)
  or bare base64 without a ``data:`` prefix;
* LiteLLM's singular ``message.image``, and native fields in snake_case;
* streamed answers (Server-Sent Events), recognised by Content-Type or by the body
  itself, assembled into one of the payloads above by ``bot.gateway.streams``, and
  Google's JSON array of stream chunks. ``docs/gateway-shapes.md`` lists every shape.

The MIME type a gateway claims is ignored: each image is verified and typed from its
bytes by ``bot.images.outputs.inspect_output``. Identical images sent twice (some gateways
put one in both ``content`` and ``images``) count once. Finish reasons are returned
lower-cased (Google's ``STOP`` becomes ``stop``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
import pybase64

from bot.errors import (
    ContentBlocked,
    GatewayRejected,
    ImagineError,
    MalformedResponse,
    NoImageReturned,
)
from bot.gateway.errors_map import body_error, find_error, map_error
from bot.gateway.sse import decode_raw_events, looks_like_event_stream
from bot.gateway.streams import assemble, assemble_chunks, is_google_chunk, stream_error
from bot.gateway.turns import DecodedPayloads, Payload, TurnTooDeep, strip_inline_data
from bot.images.outputs import fit_for_upload, inspect_output
from bot.images.sniff import sniff_mime
from bot.types import GeneratedImage, ImageResult, Usage

# Finish reasons that mean a filter stopped the image, with words for the user.
BLOCK_REASONS = {
    "SAFETY": "for safety reasons",
    "IMAGE_SAFETY": "for safety reasons",
    "PROHIBITED_CONTENT": "because it asks for prohibited content",
    "IMAGE_PROHIBITED_CONTENT": "because it asks for prohibited content",
    "BLOCKLIST": "because it contains blocked terms",
    "SPII": "because it may involve sensitive personal information",
    "RECITATION": "because the result resembled existing protected material",
    "IMAGE_RECITATION": "because the result resembled existing protected material",
    "CONTENT_FILTER": "for safety reasons",
    "BLOCKED": "for safety reasons",
}
# Finish reasons that mean "no image" without a filter being involved.
NO_IMAGE_REASONS = {
    "NO_IMAGE": "The model finished without drawing an image",
    "IMAGE_OTHER": "The model could not produce an image",
    "OTHER": "The model stopped without an image",
    "MAX_TOKENS": "The model ran out of output tokens before drawing an image",
    "LENGTH": "The model ran out of output tokens before drawing an image",
}

_MARKDOWN_IMAGE = re.compile(
    r"!\[[^\]\n]{0,300}\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"\n]{0,300}\")?\s*\)"
)
# The head of a Markdown image up to where its URL starts; bounded, so cheap to match.
_MARKDOWN_HEAD = re.compile(r"!\[[^\]\n]{0,300}\]\(\s*<?")
_BARE_DATA_URI = re.compile(r"data:image/[\w.+-]+(?:;[\w.+-]+=[\w.+-]+)*;base64,[A-Za-z0-9+/=_-]+")
_BASE64ISH = re.compile(r"[A-Za-z0-9+/=_\-\s]+")
MIN_BARE_BASE64 = 64  # a real image is far longer; shorter strings are text


@dataclass(frozen=True)
class ParsedResponse:
    """The result so far, and hosted images (``image_urls``) still to download."""

    result: ImageResult
    image_urls: tuple[str, ...] = ()

    def to_result(self, downloaded: tuple[GeneratedImage, ...] = ()) -> ImageResult:
        if not downloaded:
            return self.result
        return replace(self.result, images=self.result.images + downloaded)


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


class _Collector:
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


def _get(mapping: Mapping[str, Any], camel: str, snake: str) -> Any:
    """A native field by its camelCase name, or by the snake_case some relays send."""
    value = mapping.get(camel)
    return mapping.get(snake) if value is None else value


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def _usage(payload: Mapping[str, Any]) -> Usage | None:
    usage = payload.get("usage")
    if isinstance(usage, Mapping):
        result = Usage(
            prompt_tokens=_count(usage.get("prompt_tokens", usage.get("input_tokens"))),
            completion_tokens=_count(usage.get("completion_tokens", usage.get("output_tokens"))),
            total_tokens=_count(usage.get("total_tokens")),
        )
    else:
        meta = _get(payload, "usageMetadata", "usage_metadata")
        if not isinstance(meta, Mapping):
            return None
        candidates = _count(_get(meta, "candidatesTokenCount", "candidates_token_count"))
        thoughts = _count(_get(meta, "thoughtsTokenCount", "thoughts_token_count"))
        # Thinking tokens are billed as output, as OpenAI-style gateways report them.
        if candidates is not None and thoughts is not None:
            candidates += thoughts
        result = Usage(
            prompt_tokens=_count(_get(meta, "promptTokenCount", "prompt_token_count")),
            completion_tokens=candidates,
            total_tokens=_count(_get(meta, "totalTokenCount", "total_token_count")),
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


def _strip_turn(turn: Any, collector: _Collector) -> tuple[dict[str, Any] | None, dict[str, bytes]]:
    if not isinstance(turn, Mapping):
        return None, {}
    try:
        return strip_inline_data(turn, collector.decoded)
    except TurnTooDeep:
        return None, {}  # junk no one could replay; the images are what matters


def _parse_chat(
    payload: Mapping[str, Any], collector: _Collector
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
            refusal = _str(message.get("refusal"))
            if refusal:
                collector.texts.append(refusal.strip())
        finish = finish or _str(choice.get("finish_reason"))
        native = native or _str(choice.get("native_finish_reason"))
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


def _add_google_parts(parts: list[Any], collector: _Collector) -> None:
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


def _parse_google(
    payload: Mapping[str, Any], collector: _Collector
) -> tuple[dict[str, Any], str | None]:
    candidates = payload.get("candidates")
    finish: str | None = None
    first_content: Any = None
    if isinstance(candidates, list):
        for candidate in candidates:
            if not isinstance(candidate, Mapping):
                continue
            finish = finish or _str(_get(candidate, "finishReason", "finish_reason"))
            content = candidate.get("content")
            if not isinstance(content, Mapping):
                continue
            if first_content is None:
                first_content = content
            parts = content.get("parts")
            if isinstance(parts, list):
                _add_google_parts(parts, collector)
    raw_turn, blobs = _strip_turn(first_content, collector)
    facts = {"raw_turn": raw_turn, "blobs": blobs, "finish": finish}
    block = None
    feedback = _get(payload, "promptFeedback", "prompt_feedback")
    reason = (
        _str(_get(feedback, "blockReason", "block_reason"))
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


def _parse_images_api(
    payload: Mapping[str, Any], collector: _Collector
) -> tuple[dict[str, Any], None]:
    for item in payload["data"]:
        collector.add_part(item)
    return {"raw_turn": None, "blobs": {}, "finish": None}, None


def _blocked(reason: str, text: str) -> ContentBlocked:
    why = BLOCK_REASONS.get(reason, "for safety reasons")
    message = f"The image service blocked this request {why} ({reason})."
    if text:
        message += f" The model said: {text[:500]}"
    return ContentBlocked(message, reason=reason)


def _no_image(finish: str | None, text: str) -> ImagineError:
    if text:
        return NoImageReturned(model_text=text)
    reason = (finish or "").upper()
    if reason in NO_IMAGE_REASONS:
        return NoImageReturned(f"{NO_IMAGE_REASONS[reason]} ({reason}).")
    return NoImageReturned()


def _decode_json(body: bytes) -> tuple[Any, bool]:
    if not body.strip():
        return None, False
    try:
        return orjson.loads(body), True
    except orjson.JSONDecodeError:
        return None, False


def _parse(
    body: bytes, status: int, content_type: str | None, retry_after: str | None, model: str | None
) -> ParsedResponse:
    if looks_like_event_stream(body, content_type):
        return _parse_stream(body, status, retry_after, model)
    payload, is_json = _decode_json(body)
    if status >= 400:
        error = body_error(payload, body)
        raise map_error(status, error, is_json=is_json, retry_after=retry_after, model=model)
    _check_redirect(status)
    if not is_json:
        if (content_type or "").lower().startswith("image/") or sniff_mime(body[:64]):
            collector = _Collector()
            collector.add_bytes(body)
            if collector.images:
                return ParsedResponse(ImageResult(images=tuple(collector.images)))
            raise MalformedResponse("The image service returned a broken image.")
        if body.strip():
            raise MalformedResponse(
                "The image service sent an answer that is not JSON (perhaps an error page)."
            )
        raise MalformedResponse("The image service sent an empty answer.")
    error = find_error(payload)
    if error is not None:
        raise map_error(status, error, is_json=True, retry_after=retry_after, model=model)
    if isinstance(payload, list) and payload and all(map(is_google_chunk, payload)):
        # streamGenerateContent without ``alt=sse``: a JSON array of the stream's chunks.
        payload = assemble_chunks(payload, status=status, retry_after=retry_after, model=model)
    return _parse_payload(payload)


def _check_redirect(status: int) -> None:
    if 300 <= status < 400:
        raise GatewayRejected(
            f"The image service answered with a redirect (HTTP {status}); "
            "check the gateway base URL.",
            status=status,
        )


def _parse_stream(
    body: bytes, status: int, retry_after: str | None, model: str | None
) -> ParsedResponse:
    events = decode_raw_events(body)
    if status >= 400:
        raise stream_error(events, status, retry_after=retry_after, model=model)
    _check_redirect(status)
    return _parse_payload(assemble(events, status=status, retry_after=retry_after, model=model))


def _parse_payload(payload: Any) -> ParsedResponse:
    if not isinstance(payload, Mapping):
        raise MalformedResponse()

    collector = _Collector()
    if "candidates" in payload or "promptFeedback" in payload or "prompt_feedback" in payload:
        facts, block = _parse_google(payload, collector)
        response_model = _str(_get(payload, "modelVersion", "model_version"))
    elif "choices" in payload:
        facts, block = _parse_chat(payload, collector)
        response_model = _str(payload.get("model"))
    elif isinstance(payload.get("data"), list):
        facts, block = _parse_images_api(payload, collector)
        response_model = _str(payload.get("model"))
    else:
        raise MalformedResponse()

    finish = facts["finish"]
    text = collector.text
    if not collector.images and not collector.urls:
        if block:
            raise _blocked(block, text)
        if collector.broken:
            raise MalformedResponse("The image service returned a broken image.")
        raise _no_image(finish, text)
    result = ImageResult(
        images=tuple(collector.images),
        text=text,
        finish_reason=finish.lower() if finish else None,
        usage=_usage(payload),
        model=response_model,
        raw_turn=facts["raw_turn"],
        blobs=facts["blobs"],
    )
    return ParsedResponse(result, image_urls=tuple(collector.urls))


def parse_response(
    body: bytes,
    status: int,
    content_type: str | None = None,
    *,
    retry_after: str | None = None,
    model: str | None = None,
) -> ParsedResponse:
    """Images, text, usage and raw turn of one answer, or the project's error for it.

    ``retry_after`` is the Retry-After header, ``model`` the requested model (named in
    "model not available" messages).
    """
    try:
        return _parse(body, status, content_type, retry_after, model)
    except ImagineError:
        raise
    except (RecursionError, MemoryError) as exc:
        raise MalformedResponse() from exc


def parse_response_file(
    path: str,
    status: int,
    content_type: str | None = None,
    *,
    retry_after: str | None = None,
    model: str | None = None,
    upload_limit: int | None = None,
) -> ParsedResponse:
    """``parse_response`` of a body spooled to ``path``, for a worker process.

    With ``upload_limit``, images over it get ``fitted`` in the same call, so the
    decoded original is not shipped back to the main process only to come here again.
    The caller owns (and removes) the file.
    """
    with open(path, "rb") as f:
        body = f.read()
    parsed = parse_response(body, status, content_type, retry_after=retry_after, model=model)
    del body  # the fit below needs the memory more
    if upload_limit is None:
        return parsed
    images = tuple(
        replace(image, fitted=fit_for_upload(image, upload_limit))
        if len(image.data) > upload_limit
        else image
        for image in parsed.result.images
    )
    return replace(parsed, result=replace(parsed.result, images=images))
