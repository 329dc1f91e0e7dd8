"""Turn a gateway's answer into images, text and usage, whatever dialect was asked.

Runs in a CPU worker process (bodies hold multi-MB base64): ``parse_response`` is
top-level and returns a picklable ``ParsedResponse``, or raises one of the project's
errors (never anything else).

Here the answer is told apart: an error (``bot.gateway.errors_map``), a raw image body,
a streamed answer (Server-Sent Events, recognised by Content-Type or by the body itself,
assembled by ``bot.gateway.streams``), Google's JSON array of stream chunks, or one of the
JSON shapes ``bot.gateway.shapes`` reads (its images gathered by
``bot.gateway.collector``). ``docs/gateway-shapes.md`` lists every shape. Finish reasons
are returned lower-cased (Google's ``STOP`` becomes ``stop``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from bot.errors import (
    ContentBlocked,
    GatewayRejected,
    ImagineError,
    MalformedResponse,
    NoImageReturned,
)
from bot.gateway.collector import Collector
from bot.gateway.error_body import body_error, find_error
from bot.gateway.errors_map import map_error
from bot.gateway.shapes import (
    BLOCK_REASONS,
    get_field,
    nonempty_str,
    read_chat,
    read_google,
    read_images_api,
    read_usage,
)
from bot.gateway.sse import decode_raw_events, looks_like_event_stream
from bot.gateway.streams import assemble, assemble_chunks, is_google_chunk, stream_error
from bot.i18n import Text, _, join
from bot.images.outputs import BROKEN_OUTPUT as BROKEN_IMAGE
from bot.images.outputs import fit_for_upload
from bot.images.sniff import sniff_mime
from bot.types import GeneratedImage, ImageResult

# Finish reasons that mean "no image" without a filter being involved; ``{reason}`` is
# the finish reason, filled when raised.
# Translators: {reason} is the model's finish reason code (NO_IMAGE, MAX_TOKENS), as it is.
_OUT_OF_TOKENS = _("The model ran out of output tokens before drawing an image ({reason}).")
NO_IMAGE_REASONS: dict[str, Text] = {
    "NO_IMAGE": _("The model finished without drawing an image ({reason})."),
    "IMAGE_OTHER": _("The model could not produce an image ({reason})."),
    "OTHER": _("The model stopped without an image ({reason})."),
    "MAX_TOKENS": _OUT_OF_TOKENS,
    "LENGTH": _OUT_OF_TOKENS,
}


@dataclass(frozen=True)
class ParsedResponse:
    """The result so far, and hosted images (``image_urls``) still to download."""

    result: ImageResult
    image_urls: tuple[str, ...] = ()

    def to_result(self, downloaded: tuple[GeneratedImage, ...] = ()) -> ImageResult:
        if not downloaded:
            return self.result
        return replace(self.result, images=self.result.images + downloaded)


def _blocked(reason: str, text: str) -> ContentBlocked:
    sentence = replace(
        BLOCK_REASONS.get(reason, BLOCK_REASONS["SAFETY"]), params={"reason": reason}
    )
    # Translators: {text} is what the model wrote (not translated).
    said = _("The model said: {text}", text=text[:500]) if text else None
    return ContentBlocked(join([sentence, said]), reason=reason)


def _no_image(finish: str | None, text: str) -> ImagineError:
    if text:
        return NoImageReturned(model_text=text)
    reason = (finish or "").upper()
    if reason in NO_IMAGE_REASONS:
        return NoImageReturned(replace(NO_IMAGE_REASONS[reason], params={"reason": reason}))
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
            collector = Collector()
            collector.add_bytes(body)
            if collector.images:
                return ParsedResponse(ImageResult(images=tuple(collector.images)))
            raise MalformedResponse(BROKEN_IMAGE)
        if body.strip():
            raise MalformedResponse(
                _("The image service sent an answer that is not JSON (perhaps an error page).")
            )
        raise MalformedResponse(_("The image service sent an empty answer."))
    error = find_error(payload)
    if error is not None:
        raise map_error(status, error, is_json=True, retry_after=retry_after, model=model)
    if isinstance(payload, list) and payload and all(map(is_google_chunk, payload)):
        # streamGenerateContent without ``alt=sse``: a JSON array of the stream's chunks.
        payload = assemble_chunks(payload, status=status, retry_after=retry_after, model=model)
    return _parse_payload(payload)


def _check_redirect(status: int) -> None:
    if 300 <= status < 400:
        # Translators: {status} is the HTTP status code (301, 302).
        raise GatewayRejected(
            _(
                "The image service answered with a redirect (HTTP {status}); "
                "check the gateway base URL.",
                status=status,
            ),
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

    collector = Collector()
    if "candidates" in payload or "promptFeedback" in payload or "prompt_feedback" in payload:
        facts, block = read_google(payload, collector)
        response_model = nonempty_str(get_field(payload, "modelVersion", "model_version"))
    elif "choices" in payload:
        facts, block = read_chat(payload, collector)
        response_model = nonempty_str(payload.get("model"))
    elif isinstance(payload.get("data"), list):
        facts, block = read_images_api(payload, collector)
        response_model = nonempty_str(payload.get("model"))
    else:
        raise MalformedResponse()

    finish = facts["finish"]
    text = collector.text
    if not collector.images and not collector.urls:
        if block:
            raise _blocked(block, text)
        if collector.broken:
            raise MalformedResponse(BROKEN_IMAGE)
        raise _no_image(finish, text)
    result = ImageResult(
        images=tuple(collector.images),
        text=text,
        finish_reason=finish.lower() if finish else None,
        usage=read_usage(payload),
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
    The file is removed once read: a spooled body is memory (tmpfs) that the parse
    below no longer needs, ~28 MB per 4K answer for the ~0.5 s the decode takes. The
    caller still owns the directory around it.
    """
    with open(path, "rb") as f:
        body = f.read()
    with contextlib.suppress(OSError):
        os.unlink(path)
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
