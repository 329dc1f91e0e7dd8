"""The job runner every entry point uses: inputs in, a stored, accounted result out.

One job = one gateway call. The order matters: inputs are downloaded and validated
first (a bad attachment costs nothing upstream), then the job row is written (so a
crash leaves a trace that start-up turns into "interrupted"), then the gateway is
called, then blobs, the history turn, usage and the job's final state are stored.
Nothing here knows about Discord interactions; ``cogs/`` drive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from bot.errors import (
    ImageTooLarge,
    ImagineError,
    InputImageError,
    LimitReached,
    NotAnImage,
)
from bot.gateway.sizes import SizeCheck, check_images, gateway_address
from bot.gateway.turns import blob_refs, restore_inline_data
from bot.images.sniff import sniff_mime
from bot.limits import (
    DISCORD_UPLOAD_LIMIT,
    MAX_DOWNLOAD_BYTES,
    MAX_MODEL_NAME_CHARS,
    MAX_PROMPT_CHARS,
    MIB,
    is_model_name,
)
from bot.storage.base import GuildSettings, JobRecord, StoredImage, TurnRecord
from bot.storage.errors import BlobNotFound
from bot.types import (
    ASPECT_RATIOS,
    EXTREME_ASPECT_RATIOS,
    IMAGE_SIZES,
    GatewayConfig,
    HistoryTurn,
    ImageRequest,
    ImageResult,
    InputImage,
)

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)
T = TypeVar("T")

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
    """An image to fetch: where it is and what Discord claims about it."""

    url: str
    filename: str = "image"
    size: int | None = None
    content_type: str | None = None

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
    """What a member asked for, independent of how (slash, button, reply, context menu)."""

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
    new_chain: bool = False  # /imagine: forget the chain first
    use_latest: bool = False  # /edit without an image: the chain's latest output
    interaction_token: str | None = None
    # Where the result goes: Discord's per-file limit there (boosted servers allow more,
    # and then a 4K original needs no re-encoding at all).
    upload_limit: int = DISCORD_UPLOAD_LIMIT

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


Publish = Callable[[JobOutcome], Awaitable[None]]


@dataclass
class _Inputs:
    images: list[InputImage] = field(default_factory=list)
    stored: list[StoredImage] = field(default_factory=list)


def supports_sizes(model: str) -> bool:
    """2.5 Flash Image renders 1K only; the 3.x image models take 2K and 4K."""
    return "2.5-flash-image" not in model.lower()


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


def _kept(settings: GuildSettings) -> int:
    """Turns to keep: the replayed ones, and always the latest so /edit has an image."""
    return max(settings.history_turns, 1)


class JobRunner:
    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    # -- admission --------------------------------------------------------------
    async def check_quota(self, spec: JobSpec, settings: GuildSettings) -> None:
        """Hourly/daily caps an admin set; counted from the job rows."""
        now = time.time()
        checks = (
            (
                settings.user_hourly,
                spec.user_id,
                3600,
                "You have used your {n} images for this hour.",
            ),
            (settings.user_daily, spec.user_id, 86400, "You have used your {n} images for today."),
            (
                settings.guild_hourly,
                None,
                3600,
                "This server has used its {n} images for this hour.",
            ),
            (settings.guild_daily, None, 86400, "This server has used its {n} images for today."),
        )
        for limit, user_id, window, message in checks:
            if limit is None:
                continue
            used = await self.bot.store.count_jobs(
                guild_id=spec.guild_id, user_id=user_id, since=now - window
            )
            if used >= limit:
                raise LimitReached(message.format(n=limit) + " Try again later.")

    @asynccontextmanager
    async def admitted(self, spec: JobSpec, settings: GuildSettings) -> AsyncIterator[None]:
        """Quota and in-flight checks; holds a job slot for the duration."""
        check_prompt(spec.prompt)
        check_options(spec)
        for source in spec.sources:
            source.precheck()
        await self.check_quota(spec, settings)
        async with (
            self.bot.runtime.slot(
                user_id=spec.user_id,
                guild_id=spec.guild_id,
                user_limit=settings.user_concurrency,
                guild_limit=settings.guild_concurrency,
            ),
            self.bot.runtime.job(),
        ):
            yield

    # -- inputs -----------------------------------------------------------------
    async def download(self, source: SourceImage, cap: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """Stream an attachment, stopping at the cap instead of buffering the rest."""
        source.precheck(cap)
        chunks: list[bytes] = []
        total = 0
        try:
            async with self.bot.web.stream("GET", source.url) as response:
                if response.status_code != 200:
                    raise InputImageError(
                        f"I could not download {source.filename} from Discord "
                        f"(HTTP {response.status_code}); try uploading it again."
                    )
                async for chunk in response.aiter_bytes():
                    total += len(chunk)
                    if total > cap:
                        raise ImageTooLarge(f"{source.filename} is larger than {cap // MIB} MB.")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise InputImageError(
                f"I could not download {source.filename} from Discord; try again."
            ) from exc
        if total == 0:
            raise NotAnImage(f"{source.filename} is empty.")
        return b"".join(chunks)

    async def _inputs(
        self, spec: JobSpec, turns: Sequence[TurnRecord], *, replays_outputs: bool
    ) -> _Inputs:
        raw = await _in_order(self.download(s) for s in spec.sources)
        inputs = _Inputs()
        if raw:
            prepared = list(await self.bot.gateway.prepare_images(raw))
            store = self.bot.store
            # Only the downloads are new: stored images already have their row and hash.
            inputs.stored += [
                await store.put_blob(i.data, i.mime, i.width, i.height) for i in prepared
            ]
            inputs.images += prepared
        given = await self._stored(spec.input_shas)
        inputs.stored += [info for info, _ in given]
        inputs.images += [image for _, image in given]
        if spec.use_latest and not inputs.stored:
            latest = next((t for t in reversed(turns) if t.outputs), None)
            if latest is None:
                raise InputImageError(NO_LATEST_IMAGE)
            previous = await self._stored(o.sha256 for o in latest.outputs)
            inputs.stored += [info for info, _ in previous]
            # google replays the model turn holding these images; chat dialects cannot
            # carry images in assistant turns, so they go into this turn instead.
            if not replays_outputs:
                inputs.images += [image for _, image in previous]
        return inputs

    async def _stored(self, shas: Iterable[str]) -> list[tuple[StoredImage, InputImage]]:
        """Stored images with the mime and size their rows recorded, read side by side."""
        store = self.bot.store

        async def one(sha: str) -> tuple[StoredImage, InputImage]:
            try:
                info = await store.blob_info(sha)
                data = await store.get_blob(sha)
            except BlobNotFound:  # expired meanwhile, e.g. while an Edit form was open
                raise InputImageError(IMAGE_GONE) from None
            return info, InputImage(data=data, mime=info.mime, width=info.width, height=info.height)

        return await _in_order(one(sha) for sha in shas)

    async def _stored_images(self, shas: Iterable[str]) -> list[InputImage]:
        return [image for _, image in await self._stored(shas)]

    # -- history ----------------------------------------------------------------
    async def _history(
        self, turns: Sequence[TurnRecord], *, with_images: bool
    ) -> tuple[HistoryTurn, ...]:
        """Earlier turns for replay; chat dialects replay text only, so no images are loaded."""
        history = []
        for turn in turns:
            model_turn = None
            inputs: list[InputImage] = []
            outputs: list[InputImage] = []
            if with_images:
                inputs = await self._stored_images(i.sha256 for i in turn.inputs)
                # Only a Gemini turn replays verbatim; a chain begun on a chat gateway
                # (before an admin switched dialect) is rebuilt from its outputs.
                if turn.raw_turn is not None and "parts" in turn.raw_turn:
                    blobs = {
                        sha: await self.bot.store.get_blob(sha) for sha in blob_refs(turn.raw_turn)
                    }
                    # Re-inlining base64 of multi-MB images is CPU work: off the loop.
                    model_turn = await self.bot.cpu.run(restore_inline_data, turn.raw_turn, blobs)
                else:
                    outputs = await self._stored_images(o.sha256 for o in turn.outputs)
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

    # -- the job ----------------------------------------------------------------
    async def run(
        self,
        spec: JobSpec,
        settings: GuildSettings,
        *,
        publish: Publish,
        on_wait: Callable[[bool], None] | None = None,
    ) -> JobOutcome:
        """Run one job to the end; the channel lock keeps a chain's turns in order.

        ``on_wait(True)`` is called when the job has to wait for another job of the
        channel's chain, and ``on_wait(False)`` once it runs, so the member can be told.
        ``publish(outcome)`` posts the result while it is being stored (at 1K, storing
        is a fifth of what the bot adds to a job); the chain stays locked until both
        are done, so the next turn always sees this one.
        """
        if not (spec.history or spec.new_chain or spec.use_latest):
            return await self._run(spec, settings, publish)
        lock = self.bot.runtime.channel_lock(spec.channel_id)
        told = on_wait if lock.locked() else None
        if told is not None:
            told(True)
        async with lock:
            if told is not None:
                told(False)
            return await self._run(spec, settings, publish)

    async def _run(self, spec: JobSpec, settings: GuildSettings, publish: Publish) -> JobOutcome:
        store = self.bot.store
        gateway, model = await self.bot.resolve_gateway(spec.guild_id, settings=settings)
        model = spec.model or model
        notes: list[str] = []
        image_size = spec.image_size or settings.image_size
        if image_size and image_size != "1K" and not supports_sizes(model):
            notes.append(f"{model} makes 1K images only, so I used 1K.")
            image_size = None
        aspect_ratio = spec.aspect_ratio or settings.aspect_ratio

        if spec.new_chain or spec.history or spec.use_latest:
            # A result already on screen is part of the history, even while it is stored.
            await self.bot.runtime.stored(channel_id=spec.channel_id)
        if spec.new_chain:
            await store.reset_history(spec.channel_id)
        turns: Sequence[TurnRecord] = ()
        if spec.history or spec.use_latest:
            turns = await store.recent_turns(spec.channel_id, _kept(settings))
        replays = spec.history and gateway.dialect == "google"
        inputs = await self._inputs(spec, turns, replays_outputs=replays)
        replayed = turns[len(turns) - settings.history_turns :] if settings.history_turns else ()
        history = await self._history(replayed, with_images=replays) if spec.history else ()

        job = await store.create_job(
            kind=spec.kind,
            guild_id=spec.guild_id,
            channel_id=spec.channel_id,
            user_id=spec.user_id,
            prompt=spec.prompt,
            params={
                "model": model,
                "aspect_ratio": aspect_ratio,
                "image_size": image_size,
                "inputs": [s.sha256 for s in inputs.stored],
                "history": spec.history,
                "new_chain": spec.new_chain,
            },
            interaction_token=spec.interaction_token,
            owner=self.bot.settings.instance_name,
        )
        job = await store.update_job(job.id, state="running")
        request = ImageRequest(
            model=model,
            prompt=spec.prompt,
            images=tuple(inputs.images),
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            history=history,
        )
        try:
            # Pre-fit to the destination's limit, in the worker that parses the answer.
            result = await self.bot.gateway.generate(
                gateway, request, upload_limit=spec.upload_limit
            )
        except ImagineError as exc:
            await store.update_job(
                job.id,
                state="failed",
                counted=exc.counts_toward_quota,
                result={"error": str(exc)},
            )
            raise
        except Exception as exc:
            log.exception("job %s failed", job.id)
            await store.update_job(
                job.id, state="failed", counted=False, result={"error": repr(exc)}
            )
            raise

        check = check_images(image_size, aspect_ratio, _pixels(result))
        if check.note:
            notes.append(check.note)
            log.warning(
                "gateway %s ignored the size: model %s, dialect %s, asked %s, delivered %s",
                gateway_address(gateway.base_url),
                model,
                gateway.dialect,
                check.asked,
                check.delivered,
            )
        outcome = JobOutcome(job=job, result=result, model=model, notes=tuple(notes))

        async def stored_and_observed() -> JobRecord:
            stored = await self._store_result(spec, settings, job, inputs, result)
            await self._remember_size(gateway, model, check)
            return stored

        saving = asyncio.ensure_future(stored_and_observed())
        self.bot.runtime.storing(job.id, spec.channel_id, saving)
        try:
            await publish(outcome)
        finally:
            stored = await self._settle(saving, job)
        return replace(outcome, job=stored)

    async def _store_result(
        self,
        spec: JobSpec,
        settings: GuildSettings,
        job: JobRecord,
        inputs: _Inputs,
        result: ImageResult,
    ) -> JobRecord:
        """Blobs, the history turn, usage, and the job marked done (or failed, and raise)."""
        try:
            store = self.bot.store
            outputs = [
                await store.put_blob(img.data, img.mime, img.width, img.height)
                for img in result.images
            ]
            stored_shas = {o.sha256 for o in outputs}
            for sha, data in result.blobs.items():
                if sha in stored_shas:
                    continue  # the turn's image is the output just stored: no second hash + write
                stored = await store.put_blob(data, sniff_mime(data) or "application/octet-stream")
                if stored.sha256 != sha:
                    log.warning("blob %s stored under %s", sha, stored.sha256)
            await store.append_turn(
                TurnRecord(
                    channel_id=spec.channel_id,
                    guild_id=spec.guild_id,
                    user_id=spec.user_id,
                    prompt=spec.prompt,
                    inputs=tuple(inputs.stored),
                    outputs=tuple(outputs),
                    model_text=result.text,
                    raw_turn=result.raw_turn,
                    job_id=job.id,
                ),
                keep=_kept(settings),
            )
            usage = result.usage
            tokens = 0
            if usage is not None:
                tokens = usage.total_tokens or (usage.prompt_tokens or 0) + (
                    usage.completion_tokens or 0
                )
            await store.record_usage(
                guild_id=spec.guild_id, user_id=spec.user_id, images=len(outputs), tokens=tokens
            )
            return await store.update_job(
                job.id,
                state="done",
                result={"outputs": [o.sha256 for o in outputs], "text": result.text},
            )
        except Exception as exc:
            log.exception("job %s: the result could not be stored", job.id)
            # Not left "running": a restart would offer to run again what was delivered.
            with contextlib.suppress(Exception):  # the store is what just failed
                await self.bot.store.update_job(
                    job.id, state="failed", result={"error": f"not stored: {exc!r}"}
                )
            raise

    async def _remember_size(self, gateway: GatewayConfig, model: str, check: SizeCheck) -> None:
        """Keep what the gateway did with a size it could have ignored, for /settings show."""
        if not check.telling:
            return
        try:
            await self.bot.store.record_size_check(
                gateway=gateway_address(gateway.base_url),
                model=model,
                dialect=gateway.dialect,
                asked=check.asked,
                delivered=check.delivered,
                size_honoured=check.size_honoured,
                ratio_honoured=check.ratio_honoured,
            )
        except Exception:  # only /settings show loses a line
            log.warning("could not record the delivered size", exc_info=True)

    @staticmethod
    async def _settle(saving: asyncio.Future[JobRecord], job: JobRecord) -> JobRecord:
        """The stored job; a result already posted is not failed for want of storage.

        Shielded: a shutdown that stops the job after its result is out must not stop
        the store, or the job would be reported as interrupted and missing from the
        history (``Runtime.close`` waits for the store before the database closes).
        """
        try:
            return await asyncio.shield(saving)
        except Exception:
            return job  # logged and marked by _store_result


def _pixels(result: ImageResult) -> list[tuple[int, int]]:
    return [(image.width, image.height) for image in result.images]


async def _in_order(aws: Iterable[Awaitable[T]]) -> list[T]:
    """Await side by side, results in order; the first failure cancels the rest."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
