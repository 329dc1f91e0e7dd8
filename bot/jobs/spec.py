"""What a job is asked to do (``JobSpec``), what it made (``JobOutcome``), and the checks on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.errors import ImageTooLarge, ImagineError, InputImageError, LimitReached, NotAnImage
from bot.gateway.sizes import UnsentSize
from bot.limits import (
    DISCORD_UPLOAD_LIMIT,
    MAX_DOWNLOAD_BYTES,
    MAX_MODEL_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MIB,
    is_model_name,
)
from bot.storage.base import JobRecord
from bot.types import (
    ASPECT_RATIOS,
    EXTREME_ASPECT_RATIOS,
    FLASH_IMAGE_25_ALIASES,
    FLASH_IMAGE_25_MARK,
    IMAGE_SIZES,
    ImageResult,
)

UPSCALE_PROMPT = (
    "Recreate this exact image at a higher resolution. Keep the composition, subjects, "
    "colours and every detail identical; only add resolution and sharpness."
)
IMAGE_KINDS = "Send a PNG, JPEG, WEBP, GIF or HEIC image."
IMAGE_GONE = "I no longer have that image in my records; make a new one with /imagine."
NO_LATEST_IMAGE = (
    "There is no image in this channel's history to edit yet. "
    "Use /imagine first, or attach an image."
)


@dataclass(frozen=True)
class SourceImage:
    """An image to fetch: where it is and what Discord claims about it.

    ``data``: an image already in hand (the CLI's files), used instead of a download.
    """

    url: str
    filename: str = "image"
    size: int | None = None
    content_type: str | None = None
    data: bytes | None = None

    def precheck(self, cap: int = MAX_DOWNLOAD_BYTES) -> None:
        """Refuse what Discord's metadata already rules out, before any download."""
        ctype = (self.content_type or "").split(";")[0].strip().lower()
        if ctype and not ctype.startswith("image/"):
            raise NotAnImage(f"{self.filename} is not an image. {IMAGE_KINDS}")
        if ctype == "image/svg+xml":
            raise NotAnImage(
                f"{self.filename} is an SVG drawing; send a PNG, JPEG or WEBP instead."
            )
        if self.size is not None and self.size > cap:
            raise ImageTooLarge(
                f"{self.filename} is {self.size / MIB:.0f} MB; the limit is {cap // MIB} MB."
            )


@dataclass(frozen=True)
class JobSpec:
    """What a member asked for, independent of how (slash, button, reply, context menu, CLI)."""

    kind: str  # imagine | edit | reroll | upscale
    guild_id: int | None
    channel_id: int
    user_id: int
    prompt: str
    sources: tuple[SourceImage, ...] = ()  # to download
    input_shas: tuple[str, ...] = ()  # already stored images
    model: str | None = None
    aspect_ratio: str | None = None
    image_size: str | None = None
    history: bool = False  # replay the channel's chain
    new_chain: bool = False  # /imagine: its turn replaces the chain
    use_latest: bool = False  # /edit without an image: the chain's latest output
    interaction_token: str | None = None
    # Where the result goes: Discord's per-file limit there (boosted servers allow more,
    # and then a 4K original needs no re-encoding at all). None: saved as delivered.
    upload_limit: int | None = DISCORD_UPLOAD_LIMIT
    # Send the size as asked even to a model that makes 1K only (the CLI: a script gets
    # what the gateway does with its flags, and the delivered-size check still applies).
    keep_size: bool = False
    count: int = 1  # images to make (several: independent generations, one message)
    private: bool = False  # a result only the member sees

    @classmethod
    def from_job(cls, job: JobRecord, **changes: Any) -> JobSpec:
        """Rebuild a spec from a stored job (reroll, rerun after a restart)."""
        p = job.params
        spec = cls(
            kind=job.kind,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=job.user_id,
            prompt=job.prompt,
            input_shas=tuple(p.get("inputs", ())),
            model=p.get("model"),
            aspect_ratio=p.get("aspect_ratio"),
            image_size=p.get("image_size"),
            history=bool(p.get("history", False)),
            # Rows from before "new_chain" was stored: only /imagine started a chain.
            new_chain=bool(p.get("new_chain", job.kind == "imagine")),
        )
        return replace(spec, **changes)


@dataclass(frozen=True)
class JobOutcome:
    job: JobRecord
    result: ImageResult
    model: str
    notes: tuple[str, ...] = ()
    # The dialect could not ask for the size or ratio and the result shows it; each front
    # end words the fix (a /settings command, a flag), so it is not one of ``notes``.
    unsent: UnsentSize | None = None
    own_gateway: bool = False  # the server's own gateway made it, not the operator's


Publish = Callable[[JobOutcome], Awaitable[None]]


def supports_sizes(model: str) -> bool:
    """2.5 Flash Image, under any of its names, renders 1K only; the 3.x models take 2K and 4K."""
    name = model.strip().lower()
    if FLASH_IMAGE_25_MARK in name:
        return False
    return name.rsplit("/", 1)[-1].split(":", 1)[0] not in FLASH_IMAGE_25_ALIASES


def check_prompt(prompt: str) -> str:
    prompt = prompt.strip()
    if not prompt:
        raise InputImageError("Tell me what to draw or change: the prompt is empty.")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LimitReached(
            f"That prompt is {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}."
        )
    return prompt


def check_options(spec: JobSpec) -> None:
    """Refuse option values Discord's choices should have ruled out (a hand-made payload)."""
    if spec.aspect_ratio is not None and spec.aspect_ratio not in (
        ASPECT_RATIOS + EXTREME_ASPECT_RATIOS
    ):
        raise ImagineError("That aspect ratio is not one I know; pick one from the list.")
    if spec.image_size is not None and spec.image_size not in IMAGE_SIZES:
        raise ImagineError("The size must be 1K, 2K or 4K.")
    model = spec.model
    if model is not None and not is_model_name(model):
        raise ImagineError(
            f"A model name is one word of at most {MAX_MODEL_NAME_CHARS} characters, "
            "for example gemini-3-pro-image-preview."
        )
