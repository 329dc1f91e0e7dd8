"""The job runner every front end uses: admitted, inputs in, a stored, accounted result out.

One job = one gateway call, or ``count`` independent calls side by side (``/imagine
count:N``), each one image. The order matters: inputs are downloaded and validated
first (a bad attachment costs nothing upstream), then the job row is written (so a
crash leaves a trace that start-up turns into "interrupted"), then the gateway is
called, then blobs, the history turn, usage and the job's final state are stored.

The only way in is ``async with runner.admit(spec, settings) as job: await job.run(...)``:
the prompt and option checks, quotas, the in-flight limits and the job's place in the
channel's chain are all inside, so no front end can skip or reorder them.
Nothing here knows about Discord.

Decision, the queue: a job beyond the member's or the server's in-flight limit waits in
the server's line (``Admissions.enter``; FIFO per server, a member held by their own
limit is passed over, the server's limit stops the line), its row "queued" from
admission, so Cancel and a restart find it; beyond ``queue_limit`` waiting jobs it is
refused as before. Quotas refuse at once, and a waiting job counts toward them.

Decision, ``count``: each image is one image everywhere a cap counts. A count:N job
takes N admission slots together; a member (or server) with nothing in flight may start
any count up to ``max_count``, whose images then count against the jobs after it (on
default limits, 2 per member, count:4 runs alone). Its job row weighs N in the hourly
and daily quotas (``images``), lowered when it ends to the images delivered plus the
failures that count (as one failed image counts today). Usage records the images
delivered. The N answers are one result: one message, one job; the channel's chain
continues from its first delivered image.

Channels never run one job at a time. Each job takes its place in the channel's chain
when it is admitted (``bot.runtime.base.Chains``) and goes straight on to the gateway,
except an edit of "the channel's latest image" (``use_latest``: ``/edit`` without an
image), which first waits for the jobs ahead of it that can still change which image
that is. The chain records turns in submission order, not completion order: a result
is shown where its command was sent, so the latest image on screen is the one asked
for last, and an ``/edit`` sent while an ``/imagine`` runs edits that ``/imagine``'s
result however long it takes. A turn that is ready before the ones ahead of it is
written after them (its result is posted and its job stored at once); a new chain
(``/imagine``, a reroll of one) replaces the chain when its turn is written, so a
failed ``/imagine`` leaves the chain as it was, and of two ``/imagine``s the later one
is the chain whichever finished first. Jobs that replay the chain without waiting (an
edit of a given image, a button) read the turns recorded when they start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.costs import estimate_line, month_start
from bot.errors import GatewayError, ImagineError, JobCancelled, LimitReached, QuotaReached
from bot.gateway.addresses import gateway_address
from bot.gateway.dialects import sends_size_fields
from bot.gateway.preview import OnPreview
from bot.gateway.sizes import SizeCheck, check_images, unsent_size
from bot.i18n import Message, Text, _, n_, speaking
from bot.images.sniff import sniff_mime
from bot.jobs.inputs import Inputs, download, gather, replay
from bot.jobs.region import composited, region_request
from bot.jobs.spec import (
    JobOutcome,
    JobSpec,
    Publish,
    SourceImage,
    check_count,
    check_options,
    check_prompt,
    check_references,
    supports_sizes,
)
from bot.limits import MAX_DOWNLOAD_BYTES, MAX_QUEUE, effective_quota
from bot.runtime.base import Budget, CancelWatch, ChainPlace, OnPlace, Quota, Ticket
from bot.storage.base import GuildSettings, JobRecord, TurnRecord
from bot.storage.errors import JobFenced, StorageUnavailable
from bot.types import GatewayConfig, ImageRequest, ImageResult, Usage
from bot.workers import trimmed_when_idle

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("bot.jobs")

OnWait = Callable[[bool], None]
OnRequest = Callable[[ImageRequest], None]
# One answer per generation of a job: the result, or the error it ended in.
Generation = ImageResult | Exception


# The English keeps one form ("your 1 images"): the quota is a count of images, whatever
# it is; a language whose forms differ after a number picks its own.
def _user_hourly(n: int) -> Text:
    # Translators: {n} is the quota, a number of images (English has one form).
    return n_(
        "You have used your {n} images for this hour. Try again later.",
        "You have used your {n} images for this hour. Try again later.",
        n,
    )


def _user_daily(n: int) -> Text:
    # Translators: {n} is the quota, a number of images (English has one form).
    return n_(
        "You have used your {n} images for today. Try again later.",
        "You have used your {n} images for today. Try again later.",
        n,
    )


def _guild_hourly(n: int) -> Text:
    # Translators: {n} is the quota, a number of images (English has one form).
    return n_(
        "This server has used its {n} images for this hour. Try again later.",
        "This server has used its {n} images for this hour. Try again later.",
        n,
    )


def _guild_daily(n: int) -> Text:
    # Translators: {n} is the quota, a number of images (English has one form).
    return n_(
        "This server has used its {n} images for today. Try again later.",
        "This server has used its {n} images for today. Try again later.",
        n,
    )


QUOTAS = (
    ("user_hourly", True, 3600, _user_hourly),
    ("user_daily", True, 86400, _user_daily),
    ("guild_hourly", False, 3600, _guild_hourly),
    ("guild_daily", False, 86400, _guild_daily),
)


def _kept(settings: GuildSettings) -> int:
    """Turns to keep: the replayed ones, and always the latest so /edit has an image."""
    return max(settings.history_turns, 1)


class Job:
    """An admitted job; ``run`` it once, inside the ``admit`` block that made it."""

    def __init__(
        self,
        runner: JobRunner,
        spec: JobSpec,
        settings: GuildSettings,
        place: ChainPlace,
        ticket: Ticket,
        record: JobRecord,
        estimate: float | None = None,
    ) -> None:
        self._runner = runner
        self.spec = spec
        self.settings = settings
        self.record = record  # its row, "queued" until it starts
        self._place = place
        self._ticket = ticket
        self._ran = False
        # Dollars, before the gateway call (bot.costs); None: the model has no price.
        self.estimate = estimate

    @property
    def estimate_line(self) -> Message | None:
        """ "Estimated cost: about $0.96" for the jobs that cost most (4K, count > 1)."""
        size = self._runner.asked_size(self.spec, self.settings)
        return estimate_line(self.estimate, size, self.spec.count)

    async def run(
        self,
        publish: Publish,
        *,
        on_wait: OnWait | None = None,
        on_request: OnRequest | None = None,
        on_place: OnPlace | None = None,
        on_preview: OnPreview | None = None,
    ) -> JobOutcome:
        """Run the job to the end; its turn goes into the channel's chain in its place.

        ``on_place(n)`` while it waits in the server's line (n: 1 is next), and
        ``on_place(0)`` once it starts. A Cancel (``Runtime.cancels``) stops it while it
        waits or runs, until its answers are in: ``JobCancelled``, and it counts for
        nothing.

        ``on_wait(True)`` is called when an edit of the latest image has to wait for the
        jobs ahead of it in the channel, and ``on_wait(False)`` once it runs, so the
        member can be told. ``on_request(request)`` once the inputs are ready, just
        before the gateway call. ``on_preview(preview)`` with the model's interim thoughts
        while a streamed answer arrives (never after the answer is in, never stored).
        ``publish(outcome)`` posts the result while it is being
        stored (at 1K, storing is a fifth of what the bot adds to a job); an edit of the
        latest image sent after this job always sees its turn, and an edit of a given
        image sees it once stored unless the turn still waits for the jobs ahead.
        """
        if self._ran:
            raise RuntimeError("a job runs once; admit it again to run it again")
        self._ran = True
        # What the job's callbacks render, they render in its requester's language (also
        # when a restart resumes it with no interaction around); a job without one (the
        # CLI's) keeps the locale in effect.
        spoken = speaking(self.spec.locale) if self.spec.locale else contextlib.nullcontext()
        with spoken:
            return await self._run(publish, on_wait, on_request, on_place, on_preview)

    async def _run(
        self,
        publish: Publish,
        on_wait: OnWait | None,
        on_request: OnRequest | None,
        on_place: OnPlace | None,
        on_preview: OnPreview | None,
    ) -> JobOutcome:
        runner, record = self._runner, self.record
        async with runner.services.runtime.cancels.watch(record.id) as watch:
            try:
                await self._ticket.started(on_place)
                place = self._place
                if self.spec.use_latest:
                    told = on_wait if await place.waiting() else None
                    if told is not None:
                        told(True)
                    await place.latest()
                    if told is not None:
                        told(False)
                return await runner._run(
                    self.spec, self.settings, publish, on_request, place, record, watch, on_preview
                )
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if watch.by is None or task is None:
                    raise  # a shutdown: a queued row stays queued, to go on after the restart
                task.uncancel()
                await runner._cancelled(record, watch.by)
                raise JobCancelled(watch.by) from None

    async def abandon(self) -> None:
        """The block ended without ``run``: the row must not wait for a restart."""
        if not self._ran:
            with contextlib.suppress(Exception):
                await self._runner._final(
                    self.record, state="failed", counted=False, result={"error": "not run"}
                )


class JobRunner:
    def __init__(self, services: Services) -> None:
        self.services = services

    # -- admission --------------------------------------------------------------
    def quotas(self, settings: GuildSettings) -> list[Quota]:
        """Hourly/daily caps an admin set, never above the operator's; counted from the job rows."""
        caps = self.services.settings.quotas
        quotas = []
        for name, per_user, window, message in QUOTAS:
            limit = effective_quota(getattr(settings, name), getattr(caps, name))
            if limit is not None:
                refusal = message(limit)
                quotas.append(Quota(limit=limit, window=window, per_user=per_user, refusal=refusal))
        return quotas

    @asynccontextmanager
    async def admit(
        self, spec: JobSpec, settings: GuildSettings, *, queued: JobRecord | None = None
    ) -> AsyncIterator[Job]:
        """Checks, quotas, a place in line (or the slots) and the job's row, for the block.

        The job waits for its slots in ``job.run``, so a front end can answer first.
        ``queued``: a row an earlier run of this process left queued (a restart), or one
        taken over from a dead process: it goes on as it was, counted once.
        """
        async with self._refusing(queued):
            check_prompt(spec.prompt)
            check_options(spec)
            check_count(spec, settings)  # an admin may have lowered it while a row waited
            for source in spec.sources:
                source.precheck()
        runtime = self.services.runtime
        # Taken first, before anything else awaits: the chain's order is the order jobs came in.
        # A private result never replaces the channel's chain (``bot.jobs.privacy``).
        place = await runtime.chains.take(
            spec.channel_id,
            reads=spec.history or spec.use_latest,
            new_chain=spec.new_chain and not spec.private,
        )
        try:
            estimate = self.estimate(spec, settings)
            async with self._refusing(queued):
                ticket = await self._enter(spec, settings, queued, estimate)
            try:
                # The job is its slots' owner's: a process that was taken over stops it by that id.
                owner = ticket.owner or runtime.owner
                record = queued or await self.services.store.create_job(
                    kind=spec.kind,
                    guild_id=spec.guild_id,
                    channel_id=spec.channel_id,
                    user_id=spec.user_id,
                    prompt=spec.prompt,
                    params=spec.queued_params(),
                    interaction_token=spec.interaction_token,
                    owner=owner,
                    images=spec.count,
                )
                await ticket.attach(record.id)
                job = Job(self, spec, settings, place, ticket, record, estimate)
                try:
                    async with runtime.tasks.job(record.owner):
                        with trimmed_when_idle():
                            yield job
                except Exception:
                    await job.abandon()
                    raise
                else:
                    await job.abandon()
            finally:
                await ticket.leave()
        finally:
            place.close()

    @asynccontextmanager
    async def _refusing(self, queued: JobRecord | None) -> AsyncIterator[None]:
        """A queued row refused on its way back fails, counted for nothing: it must not
        wait for the next restart, nor show in /me as waiting."""
        try:
            yield
        except ImagineError as exc:
            if queued is not None:
                with contextlib.suppress(Exception):
                    await self._final(
                        queued, state="failed", counted=False, result={"error": str(exc)}
                    )
            raise

    async def cancel(self, job: JobRecord, *, by: int) -> bool:
        """Cancel a queued or running job wherever it runs; False once it is past that."""
        if job.state not in ("queued", "running"):
            return False
        return await self.services.runtime.cancels.request(job.id, by=by)

    async def _cancelled(self, job: JobRecord, by: int) -> None:
        """A cancelled job counts toward no quota and records no usage."""
        with contextlib.suppress(JobFenced):
            await self._final(
                job,
                state="failed",
                counted=False,
                result={"error": "cancelled", "cancelled_by": by},
            )

    async def _enter(
        self,
        spec: JobSpec,
        settings: GuildSettings,
        queued: JobRecord | None,
        estimate: float | None = None,
    ) -> Ticket:
        """Start now or wait in line; a quota without room for every image, or a budget
        without room for the ``estimate``, refuses at once (never queued).

        Decision, a row taken over or left queued by a restart: the quotas and the budget
        again, as at its start, since others may have used them up while it waited (a
        row past the hourly window no longer holds its room; a budget counts the waiting
        jobs of a live process only; an admin may have lowered a cap). Its own row is
        among the rows a quota counts while in the window: its limit is raised by the
        row's images there. No line cap: it was in line already.
        """
        quotas = self.quotas(settings)
        if queued is not None:
            quotas = [_beside_itself(quota, queued) for quota in quotas]
        budget = self.budget(settings, estimate)
        try:
            return await self.services.runtime.admissions.enter(
                user_id=spec.user_id,
                guild_id=spec.guild_id,
                user_limit=settings.user_concurrency,
                guild_limit=settings.guild_concurrency,
                images=spec.count,
                quotas=quotas,
                queue_limit=MAX_QUEUE if queued is not None else settings.queue_limit,
                budget=budget,
            )
        except QuotaReached as exc:
            if spec.count == 1 or exc.room == 0:
                raise
            raise LimitReached(
                # Translators: {count} and {room} are numbers of images, "count:" is the
                # command's option (keep it as is).
                n_(
                    "count:{count} needs room for {count} images and only {n} "
                    "fit now (the hourly and daily quotas count each image): ask for "
                    "count:{n}, or try again later.",
                    "count:{count} needs room for {count} images and only {n} "
                    "fit now (the hourly and daily quotas count each image): ask for "
                    "count:{n}, or try again later.",
                    exc.room,
                    count=spec.count,
                )
            ) from exc

    # -- costs (bot.costs) ---------------------------------------------------------
    def asked_size(self, spec: JobSpec, settings: GuildSettings) -> str | None:
        """The size the job asks for, as priced: None (1K) for a model that makes 1K only."""
        size = spec.image_size or settings.image_size
        return size if supports_sizes(self._model(spec, settings)) else None

    def _model(self, spec: JobSpec, settings: GuildSettings) -> str:
        return spec.model or settings.model or self.services.settings.image.model

    def estimate(self, spec: JobSpec, settings: GuildSettings) -> float | None:
        """What the job should cost (dollars): each image at the asked size; None: no price."""
        prices = self.services.settings.prices
        model = self._model(spec, settings)
        return prices.estimate(model, self.asked_size(spec, settings), spec.count)

    def budget(self, settings: GuildSettings, estimate: float | None) -> Budget | None:
        """The server's monthly budget for this job (None: no budget set)."""
        if settings.monthly_budget is None:
            return None
        since = month_start(time.time())
        return Budget(limit=settings.monthly_budget, since=since, estimate=estimate or 0.0)

    async def reset_chain(self, channel_id: int) -> int:
        """Forget the channel's chain, and the turns of jobs sent before; the turns removed.

        Replaces the chain as an ``/imagine`` does, so it waits only for jobs ahead that
        have yet to read the chain (an edit of the latest image waiting for its turn).
        """
        place = await self.services.runtime.chains.take(channel_id, new_chain=True)
        removed = 0

        async def reset() -> None:
            nonlocal removed
            removed = await self.services.store.reset_history(channel_id)

        try:
            await place.record(reset, wait=True)
            return removed
        finally:
            place.close()

    # -- inputs -----------------------------------------------------------------
    async def download(self, source: SourceImage, cap: int = MAX_DOWNLOAD_BYTES) -> bytes:
        """Stream an attachment, stopping at the cap instead of buffering the rest."""
        return await download(self.services.http, source, cap)

    async def _inputs(
        self, spec: JobSpec, turns: Sequence[TurnRecord], *, replays_outputs: bool
    ) -> Inputs:
        return await gather(self.services, spec, turns, replays_outputs=replays_outputs)

    # -- the job ----------------------------------------------------------------
    async def _run(
        self,
        spec: JobSpec,
        settings: GuildSettings,
        publish: Publish,
        on_request: OnRequest | None,
        place: ChainPlace,
        record: JobRecord,
        watch: CancelWatch,
        on_preview: OnPreview | None = None,
    ) -> JobOutcome:
        try:
            job, gateway, request, inputs, notes, checked_size = await self._prepared(
                spec, settings, place, record
            )
        except Exception as exc:  # nothing went upstream: it costs the member nothing
            error = str(exc) if isinstance(exc, ImagineError) else repr(exc)
            with contextlib.suppress(Exception):
                await self._final(record, state="failed", counted=False, result={"error": error})
            raise
        if on_request is not None:
            on_request(request)
        try:
            generations = await self._generations(gateway, request, spec, on_preview)
        except Exception as exc:
            generations = [exc]
        watch.close()  # the answers are in: too late to cancel
        if spec.region is not None:
            generations = [await self._composited(g, inputs, spec) for g in generations]
        return await self._finish(
            spec,
            settings,
            publish,
            place,
            job,
            gateway,
            request,
            inputs,
            notes,
            checked_size,
            generations,
        )

    async def _prepared(
        self, spec: JobSpec, settings: GuildSettings, place: ChainPlace, record: JobRecord
    ) -> tuple[JobRecord, GatewayConfig, ImageRequest, Inputs, list[Message], str | None]:
        """The inputs in, the request built, the row "running": all before the gateway."""
        services = self.services
        store = services.store
        gateway, model = await services.gateways.resolve(spec.guild_id, settings)
        model = spec.model or model
        check_references(model, len(spec.sources) + len(spec.input_shas) + len(spec.references))
        notes: list[Message] = []
        image_size = spec.image_size or settings.image_size
        # What the delivered size is checked against: 2.5 Flash is 1K whatever is asked.
        checked_size = image_size if supports_sizes(model) else None
        if image_size and image_size != "1K" and not supports_sizes(model) and not spec.keep_size:
            # Translators: {model} is the model's id (gemini-2.5-flash-image).
            notes.append(_("{model} makes 1K images only, so I used 1K.", model=model))
            image_size = None
        aspect_ratio = spec.aspect_ratio or settings.aspect_ratio

        turns: Sequence[TurnRecord] = ()
        if spec.history or spec.use_latest:
            # A result already on screen is part of the history, even while it is stored.
            await services.runtime.barrier.stored(channel_id=spec.channel_id)
            turns = await store.recent_turns(spec.channel_id, _kept(settings))
        place.read()
        if spec.private:  # its turn is never written: it must not hold the places behind
            place.close()
        replays = spec.history and gateway.dialect == "google"
        inputs = await self._inputs(spec, turns, replays_outputs=replays)
        replayed = turns[len(turns) - settings.history_turns :] if settings.history_turns else ()
        history = await replay(services, replayed, with_images=replays) if spec.history else ()

        try:
            job = await self._final(
                record,
                state="running",
                params={
                    "model": model,
                    "aspect_ratio": aspect_ratio,
                    "image_size": image_size,
                    "inputs": [s.sha256 for s in inputs.stored],
                    "history": spec.history,
                    "new_chain": spec.new_chain,
                    **({"count": spec.count} if spec.count > 1 else {}),
                    **({"private": True} if spec.private else {}),
                    **({"region": spec.region} if spec.region else {}),
                    **({"locale": spec.locale} if spec.locale else {}),
                    **(
                        {"references": [[r.name, r.sha256] for r in spec.references]}
                        if spec.references
                        else {}
                    ),
                },
            )
        except JobFenced as exc:
            raise _taken_over(record) from exc
        request = ImageRequest(
            model=model,
            prompt=inputs.prompt or spec.prompt,
            images=tuple(inputs.images),
            aspect_ratio=aspect_ratio,
            image_size=image_size,
            history=history,
        )
        if spec.region is not None:
            request = await region_request(services.cpu, request, spec.region)
        return job, gateway, request, inputs, notes, checked_size

    async def _finish(
        self,
        spec: JobSpec,
        settings: GuildSettings,
        publish: Publish,
        place: ChainPlace,
        job: JobRecord,
        gateway: GatewayConfig,
        request: ImageRequest,
        inputs: Inputs,
        notes: list[Message],
        checked_size: str | None,
        generations: list[Generation],
    ) -> JobOutcome:
        """The answers stored, posted and accounted."""
        services = self.services
        model, aspect_ratio = request.model, request.aspect_ratio
        failed = [(n, g) for n, g in enumerate(generations, 1) if isinstance(g, Exception)]
        for _number, failure in failed:
            self._noted(failure, settings, gateway, model, job)
        # Failed images that count as the failure of a one-image job does.
        weight = sum(1 for _, e in failed if isinstance(e, ImagineError) and e.counts_toward_quota)
        made = [(n, g) for n, g in enumerate(generations, 1) if isinstance(g, ImageResult)]
        if not made:
            first = failed[0][1]
            error = str(first) if isinstance(first, ImagineError) else repr(first)
            changes: dict[str, Any] = {"counted": weight > 0, "result": {"error": error}}
            if spec.count > 1:
                changes["images"] = weight
            await self._failed(job, state="failed", **changes)
            raise first
        result = made[0][1] if spec.count == 1 else _combined([r for _, r in made])
        numbers = tuple(n for n, _ in made) if spec.count > 1 else ()

        # A region edit is the original's size by construction: nothing for it to tell.
        asked = (None, None) if spec.region else (checked_size, aspect_ratio)
        check = check_images(*asked, _pixels(result))
        # A dialect without size fields never asked: nothing to blame the gateway for.
        size_sent = sends_size_fields(gateway.dialect)
        unsent = None if size_sent else unsent_size(check, gateway.dialect)
        if check.note and size_sent:
            notes.append(check.note)
            log.warning(
                "gateway %s ignored the size: model %s, dialect %s, asked %s, delivered %s",
                gateway_address(gateway.base_url),
                model,
                gateway.dialect,
                check.asked,
                check.delivered,
            )
        outcome = JobOutcome(
            job=job,
            result=result,
            model=model,
            notes=tuple(notes),
            unsent=unsent,
            own_gateway=settings.has_own_gateway,
            numbers=numbers,
            failed=tuple(failed) if spec.count > 1 else (),
        )

        async def stored_and_observed() -> JobRecord:
            stored = await self._store_result(spec, settings, job, inputs, outcome, place, weight)
            if size_sent:
                await self._remember_size(gateway, model, check)
            return stored

        saving = asyncio.ensure_future(stored_and_observed())
        place.close(after=saving)  # the store records the turn, whatever happens to this task
        await services.runtime.barrier.storing(job.id, spec.channel_id, saving)
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
        inputs: Inputs,
        outcome: JobOutcome,
        place: ChainPlace,
        weight: int = 0,
    ) -> JobRecord:
        """Blobs, the history turn, usage, and the job marked done (or failed, and raise).

        The turn is written in its place in the chain: now, or after the jobs ahead.
        ``weight``: the failed images of a count:N job that still count toward quotas.
        """
        result = outcome.result
        try:
            store = self.services.store
            # The worker that parsed the answer hashed the bytes it keeps for the turn.
            digests = {id(data): sha for sha, data in result.blobs.items()}
            outputs = [
                await store.put_blob(
                    img.data, img.mime, img.width, img.height, sha256=digests.get(id(img.data))
                )
                for img in result.images
            ]
            stored_shas = {o.sha256 for o in outputs}
            for sha, data in result.blobs.items():
                if sha in stored_shas:
                    continue  # the turn's image is the output just stored: no second hash + write
                stored = await store.put_blob(data, sniff_mime(data) or "application/octet-stream")
                if stored.sha256 != sha:
                    log.warning("blob %s stored under %s", sha, stored.sha256)
            turn = TurnRecord(
                channel_id=spec.channel_id,
                guild_id=spec.guild_id,
                user_id=spec.user_id,
                prompt=spec.prompt,
                inputs=tuple(inputs.stored),
                # count:N: the chain goes on from the first image (its raw turn is replayed).
                outputs=tuple(outputs[:1] if spec.count > 1 else outputs),
                model_text=result.text,
                raw_turn=result.raw_turn,
                job_id=job.id,
            )

            async def write() -> None:
                if spec.new_chain:
                    await store.reset_history(spec.channel_id)
                await store.append_turn(turn, keep=_kept(settings))

            if not spec.private:  # a private turn stays out of the channel's chain
                await place.record(write)
            usage = result.usage
            tokens = 0
            if usage is not None:
                tokens = usage.total_tokens or (usage.prompt_tokens or 0) + (
                    usage.completion_tokens or 0
                )
            cost = self.services.settings.prices.cost(
                outcome.model, job.params.get("image_size"), images=len(outputs), usage=usage
            )
            await store.record_usage(
                guild_id=spec.guild_id,
                user_id=spec.user_id,
                images=len(outputs),
                tokens=tokens,
                cost=cost or 0.0,
            )
            done: dict[str, Any] = {"outputs": [o.sha256 for o in outputs], "text": result.text}
            changes: dict[str, Any] = {} if cost is None else {"cost": cost}
            if spec.count > 1:
                # By number, so a per-image button finds its image after a restart.
                shas = dict(zip(outcome.numbers, (o.sha256 for o in outputs), strict=True))
                done["images"] = [shas.get(n) for n in range(1, spec.count + 1)]
                done["failed"] = {str(n): str(exc) for n, exc in outcome.failed}
                changes["images"] = len(outputs) + weight
            return await self._final(job, state="done", result=done, **changes)
        except JobFenced:
            raise  # the job is another process's now: nothing of its state is ours to write
        except Exception as exc:
            if isinstance(exc, StorageUnavailable):  # the store logged the outage once
                log.warning("job %s: the result could not be stored: %s", job.id, exc)
            else:
                log.exception("job %s: the result could not be stored", job.id)
            # Not left "running": a restart would offer to run again what was delivered.
            with contextlib.suppress(Exception):  # the store is what just failed
                await self._final(job, state="failed", result={"error": f"not stored: {exc!r}"})
            raise

    async def _generations(
        self,
        gateway: GatewayConfig,
        request: ImageRequest,
        spec: JobSpec,
        on_preview: OnPreview | None = None,
    ) -> list[Generation]:
        """The job's gateway calls side by side; each answer or the error it ended in.

        Each image is pre-fitted (in the worker that parses it) to its share of the upload
        limit, which holds for the message, not per file.
        """
        generate = self.services.gateway.generate
        if on_preview is not None:
            generate = functools.partial(generate, on_preview=on_preview)
        if spec.count == 1:
            return [await generate(gateway, request, upload_limit=spec.upload_limit)]
        share = spec.upload_limit // spec.count if spec.upload_limit else None
        answers = await asyncio.gather(
            *(generate(gateway, request, upload_limit=share) for _ in range(spec.count)),
            return_exceptions=True,
        )
        generations: list[Generation] = []
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, Exception):
                raise answer  # a generation cancelled on its own: stop the job
            generations.append(answer)
        return generations

    async def _composited(
        self, generation: Generation, inputs: Inputs, spec: JobSpec
    ) -> Generation:
        """A region edit's answer as posted: only its region, on the original."""
        if isinstance(generation, Exception) or spec.region is None:
            return generation
        try:
            return await composited(
                self.services.cpu, generation, inputs.images[0], spec.region, spec.upload_limit
            )
        except Exception as exc:
            return exc

    def _noted(
        self,
        exc: Exception,
        settings: GuildSettings,
        gateway: GatewayConfig,
        model: str,
        job: JobRecord,
    ) -> None:
        """Whose gateway failed (for the member's advice), the operator's alert, the log."""
        if isinstance(exc, GatewayError):
            exc.own_gateway = settings.has_own_gateway
            if not settings.has_own_gateway and self.services.alerts is not None:
                self.services.alerts.gateway_failed(exc, base_url=gateway.base_url, model=model)
        elif not isinstance(exc, ImagineError):
            log.error("job %s failed", job.id, exc_info=exc)

    async def _final(self, job: JobRecord, **changes: Any) -> JobRecord:
        """A write of the job's state, fenced by its owner.

        Once another process took the job over (this one missed its heartbeats), the
        row is that one's: ``JobFenced``, and it stays as the other wrote it.
        """
        try:
            return await self.services.store.update_job(job.id, fence_owner=job.owner, **changes)
        except JobFenced:
            log.warning(
                "job %s was taken over by another process while it ran here: "
                "its outcome is not written (check this process's database connection)",
                job.id,
            )
            raise

    async def _failed(self, job: JobRecord, **changes: Any) -> None:
        """Write the job's failure; one another process took over ends here, untold."""
        try:
            await self._final(job, **changes)
        except JobFenced as exc:
            raise _taken_over(job) from exc

    async def _remember_size(self, gateway: GatewayConfig, model: str, check: SizeCheck) -> None:
        """Keep what the gateway did with a size it could have ignored, for /settings show."""
        if not check.telling:
            return
        try:
            await self.services.store.record_size_check(
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


def _combined(results: Sequence[ImageResult]) -> ImageResult:
    """The answers of a count:N job as one result: each answer's image, the first's turn."""
    first = results[0]
    usages = [r.usage for r in results if r.usage is not None]

    def total(name: str) -> int | None:
        values = [getattr(u, name) for u in usages if getattr(u, name) is not None]
        return sum(values) if values else None

    return replace(
        first,
        images=tuple(r.images[0] for r in results),
        usage=Usage(*(total(n) for n in ("prompt_tokens", "completion_tokens", "total_tokens")))
        if usages
        else None,
    )


# How far inside a quota's window a queued row must be to surely still be counted when
# the quota is checked a moment later (an early refusal at the edge, never an overshoot).
_WINDOW_MARGIN = 60.0


def _beside_itself(quota: Quota, queued: JobRecord) -> Quota:
    """The ``quota`` for a queued row that already counts itself among the rows."""
    inside = queued.created_at >= time.time() - quota.window + _WINDOW_MARGIN
    if not queued.counted or not inside:
        return quota
    return replace(quota, limit=quota.limit + queued.images)


def _taken_over(job: JobRecord) -> asyncio.CancelledError:
    """How a job another process took over ends here: as if stopped, so nothing tells the
    member a second time (the survivor reported it, with its Run again button)."""
    return asyncio.CancelledError(f"job {job.id} was taken over by another process")


def _pixels(result: ImageResult) -> list[tuple[int, int]]:
    return [(image.width, image.height) for image in result.images]
