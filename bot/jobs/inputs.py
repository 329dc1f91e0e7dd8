"""A job's inputs: attachments downloaded, stored images read, earlier turns for replay."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from bot.errors import ImageTooLarge, InputImageError, NotAnImage
from bot.gateway.turns import blob_refs, restore_inline_data
from bot.i18n import Message, _
from bot.jobs.reference_names import prompt_with_references
from bot.jobs.spec import IMAGE_GONE, NO_LATEST_IMAGE, JobSpec, SourceImage
from bot.limits import MAX_DOWNLOAD_BYTES, MIB
from bot.storage.base import Store, StoredImage, TurnRecord
from bot.storage.errors import BlobNotFound
from bot.types import HistoryTurn, InputImage

T = TypeVar("T")


@dataclass
class Inputs:
    images: list[InputImage] = field(default_factory=list)
    stored: list[StoredImage] = field(default_factory=list)
    # What the model reads: the prompt with each [name] pointing at its image (references).
    prompt: str = ""


async def download(
    http: httpx.AsyncClient, source: SourceImage, cap: int = MAX_DOWNLOAD_BYTES
) -> bytes:
    """Stream an attachment, stopping at the cap instead of buffering the rest."""
    if source.data is not None:
        SourceImage(source.url, source.filename, len(source.data), source.content_type).precheck(
            cap
        )
        if not source.data:
            raise NotAnImage(_empty(source))
        return source.data
    source.precheck(cap)
    chunks: list[bytes] = []
    total = 0
    try:
        async with http.stream("GET", source.url) as response:
            if response.status_code != 200:
                # Translators: {filename} is the member's file's name, {status} an HTTP
                # status code (404).
                raise InputImageError(
                    _(
                        "I could not download {filename} from Discord "
                        "(HTTP {status}); try uploading it again.",
                        filename=source.filename,
                        status=response.status_code,
                    )
                )
            async for chunk in response.aiter_bytes():
                total += len(chunk)
                if total > cap:
                    raise ImageTooLarge(
                        _(
                            "{filename} is larger than {limit} MB.",
                            filename=source.filename,
                            limit=cap // MIB,
                        )
                    )
                chunks.append(chunk)
    except httpx.HTTPError as exc:
        raise InputImageError(
            _("I could not download {filename} from Discord; try again.", filename=source.filename)
        ) from exc
    if total == 0:
        raise NotAnImage(_empty(source))
    return b"".join(chunks)


def _empty(source: SourceImage) -> Message:
    # Translators: {filename} is the name of the member's file.
    return _("{filename} is empty.", filename=source.filename)


async def gather(
    services: Any, spec: JobSpec, turns: Sequence[TurnRecord], *, replays_outputs: bool
) -> Inputs:
    """The job's images: downloads prepared and stored, then stored ones, then the latest."""
    raw = await in_order(download(services.http, s) for s in spec.sources)
    inputs = Inputs()
    store: Store = services.store
    if raw:
        prepared = list(await services.gateway.prepare_images(raw))
        # Only the downloads are new: stored images already have their row and hash.
        inputs.stored += [await store.put_blob(i.data, i.mime, i.width, i.height) for i in prepared]
        inputs.images += prepared
    given = await stored_images(store, spec.input_shas)
    inputs.stored += [info for info, _ in given]
    inputs.images += [image for _, image in given]
    if spec.use_latest and not inputs.stored:
        latest = next((t for t in reversed(turns) if t.outputs), None)
        if latest is None:
            raise InputImageError(NO_LATEST_IMAGE)
        previous = await stored_images(store, (o.sha256 for o in latest.outputs))
        inputs.stored += [info for info, _ in previous]
        # google replays the model turn holding these images; chat dialects cannot
        # carry images in assistant turns, so they go into this turn instead.
        if not replays_outputs:
            inputs.images += [image for _, image in previous]
    # Last, after the image being edited, so that one stays the first the model sees.
    first = len(inputs.images) + 1
    named = await stored_images(store, (r.sha256 for r in spec.references))
    inputs.stored += [info for info, _ in named]
    inputs.images += [image for _, image in named]
    inputs.prompt = prompt_with_references(spec.prompt, spec.references, first)
    return inputs


async def stored_images(store: Store, shas: Iterable[str]) -> list[tuple[StoredImage, InputImage]]:
    """Stored images with the mime and size their rows recorded, read side by side."""

    async def one(sha: str) -> tuple[StoredImage, InputImage]:
        try:
            info = await store.blob_info(sha)
            data = await store.get_blob(sha)
        except BlobNotFound:  # expired meanwhile, e.g. while an Edit form was open
            raise InputImageError(IMAGE_GONE) from None
        return info, InputImage(data=data, mime=info.mime, width=info.width, height=info.height)

    return await in_order(one(sha) for sha in shas)


async def replay(
    services: Any, turns: Sequence[TurnRecord], *, with_images: bool
) -> tuple[HistoryTurn, ...]:
    """Earlier turns for replay; chat dialects replay text only, so no images are loaded."""
    store: Store = services.store
    history = []
    for turn in turns:
        model_turn = None
        inputs: list[InputImage] = []
        outputs: list[InputImage] = []
        if with_images:
            inputs = [i for _, i in await stored_images(store, (i.sha256 for i in turn.inputs))]
            # Only a Gemini turn replays verbatim; a chain begun on a chat gateway
            # (before an admin switched dialect) is rebuilt from its outputs.
            if turn.raw_turn is not None and "parts" in turn.raw_turn:
                blobs = {sha: await store.get_blob(sha) for sha in blob_refs(turn.raw_turn)}
                # Re-inlining base64 of multi-MB images is CPU work: off the loop.
                model_turn = await services.cpu.run(restore_inline_data, turn.raw_turn, blobs)
            else:
                outputs = [
                    o for _, o in await stored_images(store, (o.sha256 for o in turn.outputs))
                ]
        history.append(
            HistoryTurn(
                prompt=turn.prompt,
                inputs=tuple(inputs),
                outputs=tuple(outputs),
                model_text=turn.model_text,
                model_turn=model_turn,
            )
        )
    return tuple(history)


async def in_order(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await side by side, results in order; the first failure cancels the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
