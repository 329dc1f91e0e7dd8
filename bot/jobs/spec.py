"""What a job is asked to do (``JobSpec``), what it made (``JobOutcome``), and the checks on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from bot.errors import ImageTooLarge, ImagineError, InputImageError, LimitReached, NotAnImage
from bot.gateway.sizes import UnsentSize
from bot.i18n import Message, _
from bot.images.regions import REGIONS
from bot.limits import (
    DISCORD_UPLOAD_LIMIT,
    MAX_COUNT,
    MAX_DOWNLOAD_BYTES,
    MAX_MODEL_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MAX_REFERENCES_FLASH_25,
    MAX_REFERENCES_GEMINI_3,
    MIB,
    is_model_name,
)
from bot.storage.base import GuildSettings, JobRecord
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
# Variations (the Vary buttons): the image goes in as the input, the member's prompt after
# the instruction. Written as Google's editing guidance advises: say what to keep and what
# may change, in sentences, not keywords (ai.google.dev/gemini-api/docs/image-generation).
VARY_SUBTLE = (
    "Make a subtle variation of the provided image. Keep the same subject, composition, "
    "framing, camera angle, colour palette, lighting and style; change only small details "
    "(pose, expression, textures, minor background elements), so that it reads as another "
    "take of the same shot. Do not add or remove main elements, and no text or borders."
)
VARY_STRONG = (
    "Make a strong variation of the provided image: reinterpret it freely while keeping "
    "its subject and its idea recognisable. Feel free to change the composition, framing, "
    "camera angle, pose, setting, lighting and mood, so that it is clearly a different "
    "image, not a copy. Keep the overall style unless the prompt asks for another; no text "
    "or borders."
)
VARIATIONS = {"subtle": VARY_SUBTLE, "strong": VARY_STRONG}
_PROMPT_WAS = "\n\nThe image was made from this prompt: "
# /blend without a prompt.
BLEND_PROMPT = (
    "Blend the provided images into one new, coherent image. Combine their main subjects, "
    "styles and colours naturally in a single scene with consistent lighting and "
    "perspective, as if it had always been one picture; not a collage, split screen or "
    "side-by-side layout, and no text or borders."
)
IMAGE_KINDS = _("Send a PNG, JPEG, WEBP, GIF or HEIC image.")
IMAGE_GONE = _("I no longer have that image in my records; make a new one with /imagine.")
NO_LATEST_IMAGE = _(
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
            # Translators: {filename} is the name of the member's file (photo.pdf).
            raise NotAnImage(
                _(
                    "{filename} is not an image. Send a PNG, JPEG, WEBP, GIF or HEIC image.",
                    filename=self.filename,
                )
            )
        if ctype == "image/svg+xml":
            raise NotAnImage(
                _(
                    "{filename} is an SVG drawing; send a PNG, JPEG or WEBP instead.",
                    filename=self.filename,
                )
            )
        if self.size is not None and self.size > cap:
            # Translators: {size} and {limit} are numbers of megabytes.
            raise ImageTooLarge(
                _(
                    "{filename} is {size} MB; the limit is {limit} MB.",
                    filename=self.filename,
                    size=f"{self.size / MIB:.0f}",
                    limit=cap // MIB,
                )
            )


@dataclass(frozen=True)
class Reference:
    """A reference-library image a prompt names (``[name]``): sent after every other image."""

    name: str
    sha256: str


@dataclass(frozen=True)
class JobSpec:
    """What a member asked for, independent of how (slash, button, reply, context menu, CLI)."""

    kind: str  # imagine | edit | reroll | upscale | vary | blend | region
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
    # Independent generations from the same inputs, each one image (/imagine count:).
    count: int = 1
    # An answer only the member sees (ephemeral); the member-side settings decide it.
    private: bool = False
    # A region edit (``bot.images.regions.REGIONS``): only that part of the one input
    # image changes; the rest of the result is the input's own pixels.
    region: str | None = None
    # The reference library's images the prompt names (bot.jobs.references), in order.
    references: tuple[Reference, ...] = ()
    # The requester's language (a Discord code, bot.i18n): its progress, result and
    # errors are rendered in it, also after a restart or from another process.
    locale: str | None = None

    @classmethod
    def from_job(cls, job: JobRecord, **changes: Any) -> JobSpec:
        """Rebuild a spec from a stored job (reroll, rerun after a restart)."""
        p = job.params
        references = tuple(Reference(name, sha) for name, sha in p.get("references", ()))
        inputs = tuple(p.get("inputs", ()))
        # The stored inputs end with the references' images: those come back as references.
        refs = tuple(r.sha256 for r in references)
        if refs and inputs[-len(refs) :] == refs:
            inputs = inputs[: -len(refs)]
        spec = cls(
            kind=job.kind,
            guild_id=job.guild_id,
            channel_id=job.channel_id,
            user_id=job.user_id,
            prompt=job.prompt,
            input_shas=inputs,
            references=references,
            model=p.get("model"),
            aspect_ratio=p.get("aspect_ratio"),
            image_size=p.get("image_size"),
            history=bool(p.get("history", False)),
            # Rows from before "new_chain" was stored: only /imagine started a chain.
            new_chain=bool(p.get("new_chain", job.kind == "imagine")),
            count=int(p.get("count", 1)),
            region=p.get("region"),
            # A job made from a private result is private too (a Reroll, a rerun).
            private=p.get("private") is True,
            locale=p.get("locale"),
        )
        return replace(spec, **changes)

    def queued_params(self) -> dict[str, Any]:
        """What the job's row holds while it waits: enough to run it after a restart.

        Attachments by address (Discord's links stay valid for hours); images already
        in the store by sha, which keeps them while the job waits.
        """
        sources = [
            {"url": s.url, "filename": s.filename, "size": s.size, "content_type": s.content_type}
            for s in self.sources
            if s.data is None
        ]
        return {
            "model": self.model,
            "aspect_ratio": self.aspect_ratio,
            "image_size": self.image_size,
            "inputs": list(self.input_shas),
            "history": self.history,
            "new_chain": self.new_chain,
            **({"sources": sources} if sources else {}),
            **({"use_latest": True} if self.use_latest else {}),
            **({"private": True} if self.private else {}),
            **({"count": self.count} if self.count > 1 else {}),
            **({"region": self.region} if self.region else {}),
            **({"locale": self.locale} if self.locale else {}),
            **(
                {"references": [[r.name, r.sha256] for r in self.references]}
                if self.references
                else {}
            ),
        }

    @classmethod
    def from_queued(cls, job: JobRecord, **changes: Any) -> JobSpec:
        """The spec of a job that was still waiting (``queued_params``), to run it now."""
        p = job.params
        sources = tuple(
            SourceImage(
                url=s["url"],
                filename=s.get("filename") or "image",
                size=s.get("size"),
                content_type=s.get("content_type"),
            )
            for s in p.get("sources", ())
        )
        spec = cls.from_job(
            job,
            sources=sources,
            use_latest=bool(p.get("use_latest", False)),
            private=bool(p.get("private", False)),
            interaction_token=job.interaction_token,
        )
        return replace(spec, **changes)


@dataclass(frozen=True)
class JobOutcome:
    job: JobRecord
    result: ImageResult
    model: str
    notes: tuple[Message, ...] = ()
    # The dialect could not ask for the size or ratio and the result shows it; each front
    # end words the fix (a /settings command, a flag), so it is not one of ``notes``.
    unsent: UnsentSize | None = None
    own_gateway: bool = False  # the server's own gateway made it, not the operator's
    # count:N: the number (1..N) of each image in ``result.images``, and each image that
    # failed with its error (the front end words it). Empty for a job of one image.
    numbers: tuple[int, ...] = ()
    failed: tuple[tuple[int, Exception], ...] = ()


Publish = Callable[[JobOutcome], Awaitable[None]]


def output_image(job: JobRecord, number: int) -> str | None:
    """The stored image number ``number`` (1..count) of a job; None if it failed or is gone."""
    images = job.result.get("images")
    if images is None:  # one image per request: the outputs in order
        images = job.result.get("outputs", ())
    if not 1 <= number <= len(images):
        return None
    sha = images[number - 1]
    return sha if isinstance(sha, str) else None


def check_count(spec: JobSpec, settings: GuildSettings) -> None:
    """Refuse a count the server's settings can never admit, before any slot is taken."""
    n = spec.count
    if n <= 1:
        return
    if n > settings.max_count:
        if settings.max_count == 1:
            raise LimitReached(
                # Translators: "count:" and "/settings limits max_count:" are the command's
                # words (keep them as they are).
                _(
                    "This server makes one image per /imagine: leave count: out "
                    "(an admin can change it with /settings limits max_count:)."
                )
            )
        raise LimitReached(
            _(
                "This server allows at most {n} images per /imagine: ask for "
                "count:{n} or fewer (an admin can change it with "
                "/settings limits max_count:).",
                n=settings.max_count,
            )
        )
    # Above the member's limit is fine: it starts once they have nothing generating
    # (bot.runtime.admission.fits), and its images count against the jobs after it.


def supports_sizes(model: str) -> bool:
    """2.5 Flash Image, under any of its names, renders 1K only; the 3.x models take 2K and 4K."""
    name = model.strip().lower()
    if FLASH_IMAGE_25_MARK in name:
        return False
    return name.rsplit("/", 1)[-1].split(":", 1)[0] not in FLASH_IMAGE_25_ALIASES


def reference_limit(model: str) -> int:
    """Reference images the model takes in one request (``bot.limits``)."""
    return MAX_REFERENCES_GEMINI_3 if supports_sizes(model) else MAX_REFERENCES_FLASH_25


def check_references(model: str, n: int) -> None:
    """Refuse more input images than the model takes, before anything is downloaded."""
    limit = reference_limit(model)
    if n > limit:
        # Translators: {model} is the model's id; {limit}, {n} and {most} are numbers of images.
        raise LimitReached(
            _(
                "{model} takes at most {limit} reference images and this asks for {n}: "
                "use fewer images, or a Gemini 3 image model (e.g. gemini-3-pro-image-preview), "
                "which takes up to {most}.",
                model=model,
                limit=limit,
                n=n,
                most=MAX_REFERENCES_GEMINI_3,
            )
        )


def variation_prompt(strength: str, prompt: str) -> str:
    """The instruction for a Vary button, with the prompt the image was made from."""
    return VARIATIONS[strength] + _PROMPT_WAS + prompt


def variation_of(prompt: str) -> tuple[str, str] | None:
    """(strength, the member's prompt) of a variation's stored prompt, else None."""
    for strength, instruction in VARIATIONS.items():
        if prompt.startswith(instruction + _PROMPT_WAS):
            return strength, prompt[len(instruction + _PROMPT_WAS) :]
    return None


def check_prompt(prompt: str) -> str:
    prompt = prompt.strip()
    if not prompt:
        raise InputImageError(_("Tell me what to draw or change: the prompt is empty."))
    if len(prompt) > MAX_PROMPT_CHARS:
        raise LimitReached(
            _(
                "That prompt is {length} characters; the limit is {limit}.",
                length=len(prompt),
                limit=MAX_PROMPT_CHARS,
            )
        )
    return prompt


def check_options(spec: JobSpec) -> None:
    """Refuse option values Discord's choices should have ruled out (a hand-made payload)."""
    if spec.aspect_ratio is not None and spec.aspect_ratio not in (
        ASPECT_RATIOS + EXTREME_ASPECT_RATIOS
    ):
        raise ImagineError(_("That aspect ratio is not one I know; pick one from the list."))
    if spec.image_size is not None and spec.image_size not in IMAGE_SIZES:
        raise ImagineError(_("The size must be 1K, 2K or 4K."))
    if not 1 <= spec.count <= MAX_COUNT:
        # Translators: "count" is the command's option name (keep it as is).
        raise ImagineError(_("count must be from 1 to {most}.", most=MAX_COUNT))
    if spec.region is not None:
        if spec.region not in REGIONS:
            raise ImagineError(_("That region is not one I know; pick one from the list."))
        if spec.count != 1 or len(spec.sources) + len(spec.input_shas) > 1:
            raise ImagineError(_("A region edit changes one image: pick one image, count 1."))
    model = spec.model
    if model is not None and not is_model_name(model):
        raise ImagineError(
            _(
                "A model name is one word of at most {most} characters, "
                "for example gemini-3-pro-image-preview.",
                most=MAX_MODEL_NAME_CHARS,
            )
        )
