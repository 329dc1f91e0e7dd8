"""The answers a gateway sends, as dicts and bytes: images, chat, Google and error shapes.

Pure builders for the fake gateway (``tests.fakes.gateway``, which re-exports them), usable
without the server: ``markdown_response``, ``parts_response``, ``images_response``,
``google_response``, the error bodies (``openai_error``, ``google_error``, ...) and the
test images (``png_bytes``, ``jpeg_bytes``).
"""

from __future__ import annotations

import base64
import io
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

ImageRef = bytes | str  # image bytes, or a ready URL / data URI / bare base64 string


# --------------------------------------------------------------------------- images


def png_bytes(
    width: int = 8, height: int = 8, color: tuple[int, int, int] = (200, 40, 40)
) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "PNG")
    return buf.getvalue()


def jpeg_bytes(
    width: int = 8, height: int = 8, color: tuple[int, int, int] = (40, 40, 200)
) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def sniff(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] == b"GIF8":
        return "image/gif"
    return "application/octet-stream"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def data_url(data: bytes, mime: str | None = None) -> str:
    return f"data:{mime or sniff(data)};base64,{b64(data)}"


def _ref(image: ImageRef, mime: str | None) -> str:
    return image if isinstance(image, str) else data_url(image, mime)


# --------------------------------------------------------------------------- chat shapes


def chat_completion(
    message: Mapping[str, Any],
    *,
    finish_reason: str | None = "stop",
    native_finish_reason: str | None = None,
    model: str = "gemini-2.5-flash-image",
    usage: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A chat.completion envelope around one assistant message."""
    choice: dict[str, Any] = {"index": 0, "message": dict(message), "finish_reason": finish_reason}
    if native_finish_reason is not None:
        choice["native_finish_reason"] = native_finish_reason
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 1779703910,
        "model": model,
        "choices": [choice],
    }
    if usage is not None:
        body["usage"] = dict(usage)
    return body


def markdown_response(
    images: Sequence[ImageRef] = (), text: str = "", *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 000: ``content`` is a string with ``![image](data:...)`` and optional text."""
    pieces = [text] if text else []
    pieces += [f"![image]({_ref(image, mime)})" for image in images]
    return chat_completion({"role": "assistant", "content": "\n\n".join(pieces)}, **kw)


def parts_response(
    images: Sequence[ImageRef] = (), text: str = "", *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 001: ``content`` is an array of ``text`` and ``image_url`` parts."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    parts += [{"type": "image_url", "image_url": {"url": _ref(image, mime)}} for image in images]
    return chat_completion({"role": "assistant", "content": parts}, **kw)


def images_response(
    images: Sequence[ImageRef] = (), text: str | None = None, *, mime: str | None = None, **kw: Any
) -> dict[str, Any]:
    """Seed 002: ``message.images[].image_url.url`` with ``content`` null (or text)."""
    message = {
        "role": "assistant",
        "content": text,
        "images": [
            {"type": "image_url", "image_url": {"url": _ref(image, mime)}} for image in images
        ],
    }
    return chat_completion(message, **kw)


# --------------------------------------------------------------------------- google shape


def inline_part(data: bytes, mime: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime or sniff(data), "data": b64(data)}, **extra}


def google_response(
    images: Sequence[bytes] = (),
    text: str = "",
    *,
    thought_images: Sequence[bytes] = (),
    thoughts: Sequence[str] = (),
    thought_signature: str | Sequence[str] | None = None,
    parts: Sequence[Mapping[str, Any]] | None = None,
    finish_reason: str | None = "STOP",
    usage: Mapping[str, int] | None = None,
    model_version: str | None = "gemini-3-pro-image-preview",
    block_reason: str | None = None,
) -> dict[str, Any]:
    """Native generateContent answer.

    Interim thought images come first with ``thought: true``, each after its thought
    text (``thoughts``, parts with ``thought: true`` too), as Gemini 3 thinks; then the
    text and the final images. ``thought_signature`` (one string for all, or one per final part)
    goes on every non-thought part, as Gemini 3 does. ``parts`` replaces all of that
    verbatim. ``block_reason`` gives a prompt-blocked answer with no candidates.
    """
    body: dict[str, Any] = {}
    if block_reason is not None:
        body["promptFeedback"] = {"blockReason": block_reason}
    else:
        if parts is None:
            built: list[dict[str, Any]] = []
            for words, image in itertools.zip_longest(thoughts, thought_images):
                if words is not None:
                    built.append({"text": words, "thought": True})
                if image is not None:
                    built.append(inline_part(image, thought=True))
            final: list[dict[str, Any]] = [{"text": text}] if text else []
            final += [inline_part(image) for image in images]
            if thought_signature is not None:
                signatures = (
                    itertools.repeat(thought_signature)
                    if isinstance(thought_signature, str)
                    else iter(thought_signature)
                )
                final = [
                    {**part, "thoughtSignature": sig}
                    for part, sig in zip(final, signatures, strict=False)
                ]
            parts = built + final
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
        if finish_reason is not None:
            candidate["finishReason"] = finish_reason
        body["candidates"] = [candidate]
    body["usageMetadata"] = dict(
        usage or {"promptTokenCount": 18, "candidatesTokenCount": 1290, "totalTokenCount": 1308}
    )
    if model_version:
        body["modelVersion"] = model_version
    return body


# --------------------------------------------------------------------------- error shapes


def openai_error(
    message: str,
    *,
    code: int | str | None = None,
    type: str = "invalid_request_error",
    **extra: Any,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code, **extra}}


def google_error(
    code: int, message: str, status: str, details: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = [dict(d) for d in details]
    return {"error": error}


def array_error(code: int, message: str, status: str) -> list[dict[str, Any]]:
    """Google's OpenAI-compatibility layer: the error object inside a JSON array."""
    return [google_error(code, message, status)]


def choice_error(message: str, code: int = 502, **kw: Any) -> dict[str, Any]:
    """OpenRouter's mid-generation error: status 200, ``choices[0].error``."""
    body = chat_completion({"role": "assistant", "content": ""}, finish_reason="error", **kw)
    body["choices"][0]["error"] = {"code": code, "message": message}
    return body


def moderation_error(
    reasons: Sequence[str], message: str = "Your input was flagged by moderation"
) -> dict[str, Any]:
    """OpenRouter's 403 moderation block."""
    return {
        "error": {
            "code": 403,
            "message": message,
            "metadata": {
                "reasons": list(reasons),
                "flagged_input": "a picture of...",
                "provider_name": "fake",
                "model_slug": "google/gemini-3-pro-image",
            },
        }
    }


def retry_info(seconds: float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds:g}s"}
