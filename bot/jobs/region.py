"""A region edit's request and result: the instruction, the marked copy, the composite.

The model gets the whole image first, then the marked copy, and an instruction that
names the region in words and says what the second image is for. Written as Google's
editing guidance advises for "semantic masking" (ai.google.dev/gemini-api/docs/
image-generation: "Using the provided image, change only the [element] ... Keep
everything else in the image exactly the same, preserving the original style, lighting,
and composition"): the words locate the edit, the marked copy removes any doubt about
which part the words mean. Whatever the model then does outside the region is thrown
away by the composite (``bot.images.regions``), so the promise does not rest on the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from bot.images.regions import Composited, composite_region, marked_copy, region
from bot.types import ASPECT_RATIOS, ImageRequest, ImageResult, InputImage

REGION_PROMPT = (
    "Edit only the {label} region of the first image: {words}. The second image is the "
    "same picture with that region outlined in red and everything else darkened; it only "
    "shows where the region is, so do not copy the outline or the darkening. In that "
    "region: {instruction}\n\nKeep everything outside that region exactly the same as in "
    "the first image, preserving its style, lighting and composition, and keep the whole "
    "picture's framing and aspect ratio so that the result lines up with the first image."
)


def region_prompt(name: str, instruction: str) -> str:
    """The instruction the model reads for a region edit of ``name``."""
    chosen = region(name)
    return REGION_PROMPT.format(
        label=chosen.label.lower(), words=chosen.words, instruction=instruction.strip()
    )


async def region_request(cpu: Any, request: ImageRequest, name: str) -> ImageRequest:
    """The request with the marked copy after the image to edit, and the region's prompt."""
    original = request.images[0]
    marked: InputImage = await cpu.run(marked_copy, original.data, name)
    return replace(
        request,
        prompt=region_prompt(name, request.prompt),
        images=(original, marked, *request.images[1:]),
        aspect_ratio=_ratio_of(original) or request.aspect_ratio,
    )


def _ratio_of(image: InputImage) -> str | None:
    """The known aspect ratio the image has (within 2%), so the answer needs no crop."""
    if image.width <= 0 or image.height <= 0:
        return None
    theirs = image.width / image.height
    for ratio in ASPECT_RATIOS:
        w, h = (int(n) for n in ratio.split(":"))
        if abs(theirs / (w / h) - 1) <= 0.02:
            return ratio
    return None


async def composited(
    cpu: Any, result: ImageResult, original: InputImage, name: str, upload_limit: int | None
) -> ImageResult:
    """The result with its image replaced by the composite, in the turn replayed too."""
    answer = result.images[0]
    done: Composited = await cpu.run(
        composite_region, original.data, answer.data, name, upload_limit
    )
    blobs = {sha: data for sha, data in result.blobs.items() if sha != done.answer_sha256}
    blobs[done.sha256] = done.image.data
    raw_turn = result.raw_turn
    if raw_turn is not None:
        # The model's turn is replayed by later edits: it must show what was posted.
        raw_turn = _swapped(raw_turn, done.answer_sha256, done.sha256)
    return replace(result, images=(done.image, *result.images[1:]), blobs=blobs, raw_turn=raw_turn)


def _swapped(value: Any, old: str, new: str) -> Any:
    """``value`` with blob references to ``old`` pointing at ``new`` ({"$blob"} and $blob:)."""
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if isinstance(value, Mapping):
        return {k: _swapped(v, old, new) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_swapped(v, old, new) for v in value]
    return value
