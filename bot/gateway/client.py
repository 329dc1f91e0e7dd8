"""The image-gateway client: send one generation, retry what is worth retrying.

The event loop only moves bytes. Building the multi-MB request body, parsing the
answer and checking images run in the ``CpuPool``; the API key never goes there (it
is added to the headers here, and scrubbed from any error message before it leaves).

Retries: 429 waits for Retry-After (or Google's RetryInfo) when that is at most
``max_retry_wait``; a longer wait is not sat out but reported, so the user learns when
to come back. 5xx, overload, connection failures and timeouts back off exponentially
with jitter. Auth, other 4xx and safety blocks are never retried. At most
``gateway.max_retries`` retries per generation.

Streaming (``gateway.stream``): with ``auto``, a gateway that refuses the non-streaming
request with a 4xx saying it only streams (see ``bot.gateway.stream_mode``) gets the
same request once more with streaming on; once that is answered, this client remembers,
per base URL and dialect, to stream to it at once from then on, until the gateway says
it does not stream (then it gets the request once more without). ``on`` always
streams, ``off`` never switches.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from bot.config import ImageSettings
from bot.errors import (
    GatewayError,
    ImagineError,
    MalformedResponse,
    RequestTooLarge,
)
from bot.gateway.addresses import gateway_address
from bot.gateway.dialects import PreparedRequest, auth_headers, build_request, get_dialect
from bot.gateway.exchange import (
    ACCEPT_ENCODING,
    Sink,
    declared_length,
    fetch,
    retry_after_header,
)
from bot.gateway.model_list import MAX_MODELS_BYTES, read_model_list
from bot.gateway.netguard import Resolver
from bot.gateway.parsing import ParsedResponse
from bot.gateway.preview import OnPreview, PreviewPump
from bot.gateway.spill import Workdir, parse_spooled
from bot.gateway.stream_mode import refuses_non_streaming, refuses_streaming
from bot.i18n import _
from bot.images.inputs import fit_request, prepare_input
from bot.images.outputs import inspect_output
from bot.limits import (
    DEFAULT_MAX_INPUT_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
)
from bot.secrets import scrub_error
from bot.types import GatewayConfig, GeneratedImage, ImageRequest, ImageResult, InputImage
from bot.workers import CpuPool

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_REDIRECTS = 5
# Room for the prompt, history text and JSON around the images when fitting them.
REQUEST_OVERHEAD_MARGIN = 4096


def _base64_len(data: bytes) -> int:
    return 4 * ((len(data) + 2) // 3)


class GatewayClient:
    """Generations, reference-image preparation and model lists against any gateway."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        cpu: CpuPool,
        *,
        max_image_bytes: int = DEFAULT_MAX_INPUT_BYTES,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        max_retry_wait: float = 60.0,
        resolve: Resolver | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self._http = http
        self._cpu = cpu
        self.max_image_bytes = max_image_bytes
        self.max_request_bytes = max_request_bytes
        self.max_response_bytes = max_response_bytes
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_retry_wait = max_retry_wait
        self._resolve = resolve
        # Where response bodies wait for the worker (None: the system temp dir).
        self.spool_dir = spool_dir
        # (base URL, dialect) of gateways in "auto" that said they only answer streams.
        self._stream_only: set[tuple[str, str]] = set()

    @classmethod
    def from_settings(
        cls, http: httpx.AsyncClient, cpu: CpuPool, image: ImageSettings, **options: Any
    ) -> GatewayClient:
        """The client with the operator's caps (the bot and the CLI build it the same way)."""
        return cls(
            http,
            cpu,
            max_image_bytes=image.max_image_bytes,
            max_request_bytes=image.max_request_bytes,
            max_response_bytes=image.max_response_bytes,
            **options,
        )

    # ------------------------------------------------------------------ public API

    async def prepare_images(self, raw: Sequence[bytes]) -> tuple[InputImage, ...]:
        """Validate and normalise reference images so that together they fit one request.

        Raises NotAnImage / ImageTooLarge / RequestTooLarge before anything is sent.
        """
        prepare = functools.partial(prepare_input, max_bytes=self.max_image_bytes)
        images = await asyncio.gather(*(self._cpu.run(prepare, data) for data in raw))
        budget = self.max_request_bytes - REQUEST_OVERHEAD_MARGIN
        if sum(_base64_len(i.data) for i in images) > budget:
            return await self._cpu.run(fit_request, tuple(images), budget)
        return tuple(images)

    async def generate(
        self,
        gateway: GatewayConfig,
        request: ImageRequest,
        *,
        upload_limit: int | None = None,
        on_preview: OnPreview | None = None,
    ) -> ImageResult:
        """One generation; raises one of the project's errors with a user-safe message.

        With ``upload_limit``, each image over it also carries ``fitted``: the same image
        re-encoded under the limit in the worker that parsed it, so the decoded original
        crosses between processes once. ``on_preview`` gets the model's interim thoughts
        while a streamed answer arrives (``bot.gateway.preview``), at most once per
        ``PREVIEW_INTERVAL`` and never after this returns; a plain answer gives none.
        """
        try:
            return await self._generate(gateway, request, upload_limit, on_preview)
        except ImagineError as exc:
            scrub_error(exc, gateway.api_key)
            raise

    async def list_models(self, gateway: GatewayConfig) -> list[str]:
        """Model ids the gateway offers (OpenAI ``data[].id`` or Google ``models[].name``)."""
        try:
            return await self._retrying(gateway, lambda: self._list_models_once(gateway))
        except ImagineError as exc:
            scrub_error(exc, gateway.api_key)
            raise

    # ------------------------------------------------------------------ generation

    async def _generate(
        self,
        gateway: GatewayConfig,
        request: ImageRequest,
        upload_limit: int | None,
        on_preview: OnPreview | None = None,
    ) -> ImageResult:
        parsed = await self._send_switching(gateway, request, upload_limit, on_preview)
        downloaded = await self._download_all(gateway, parsed) if parsed.image_urls else ()
        return parsed.to_result(downloaded)

    async def _send_switching(
        self,
        gateway: GatewayConfig,
        request: ImageRequest,
        upload_limit: int | None,
        on_preview: OnPreview | None = None,
    ) -> ParsedResponse:
        # In "auto", at most one retry with the other streaming mode per generation: the
        # retry is sent as "on" or "off", which never switches again.
        send = functools.partial(self._send, on_preview=on_preview)
        if gateway.stream != "auto":
            return await send(gateway, request, upload_limit)
        known = (gateway.base_url, gateway.dialect)
        if known in self._stream_only:
            try:
                return await send(replace(gateway, stream="on"), request, upload_limit)
            except GatewayError as exc:
                if not refuses_streaming(exc):
                    raise
            self._stream_only.discard(known)
            log.info(
                "gateway %s no longer answers streaming requests; not streaming to it from now on",
                gateway_address(gateway.base_url),
            )
            return await send(replace(gateway, stream="off"), request, upload_limit)
        try:
            return await send(gateway, request, upload_limit)
        except GatewayError as exc:
            if not refuses_non_streaming(exc):
                raise
        parsed = await send(replace(gateway, stream="on"), request, upload_limit)
        # Remembered only once a streamed request was answered: a gateway that refuses
        # both kinds must not be streamed to from now on.
        self._stream_only.add(known)
        log.info(
            "gateway %s only answers streaming requests; streaming to it from now on",
            gateway_address(gateway.base_url),
        )
        return parsed

    async def _send(
        self,
        gateway: GatewayConfig,
        request: ImageRequest,
        upload_limit: int | None,
        *,
        on_preview: OnPreview | None = None,
    ) -> ParsedResponse:
        keyless = replace(gateway, api_key="")
        if request.images or request.history:
            prepared = await self._cpu.run(build_request, keyless, request)
        else:
            # A prompt alone (an /imagine) is a few hundred bytes of JSON: microseconds
            # here, where a worker round trip costs the loop ~0.2-0.3 ms of CPU.
            prepared = build_request(keyless, request)
        if len(prepared.body) > self.max_request_bytes:
            request = await self._fit(request, prepared)
            prepared = await self._cpu.run(build_request, keyless, request)
            if len(prepared.body) > self.max_request_bytes:
                raise RequestTooLarge()
        headers = auth_headers(gateway, {"Accept-Encoding": ACCEPT_ENCODING, **prepared.headers})
        return await self._retrying(
            gateway,
            lambda: self._attempt(
                gateway, prepared, headers, request.model, upload_limit, on_preview
            ),
        )

    async def _fit(self, request: ImageRequest, prepared: PreparedRequest) -> ImageRequest:
        if not request.images:
            raise RequestTooLarge()
        images_size = sum(_base64_len(i.data) for i in request.images)
        overhead = len(prepared.body) - images_size + REQUEST_OVERHEAD_MARGIN
        images = await self._cpu.run(fit_request, request.images, self.max_request_bytes, overhead)
        return replace(request, images=tuple(images))

    async def _attempt(
        self,
        gateway: GatewayConfig,
        prepared: PreparedRequest,
        headers: Mapping[str, str],
        model: str,
        upload_limit: int | None = None,
        on_preview: OnPreview | None = None,
    ) -> ParsedResponse:
        # The body goes to a file as it arrives and the worker reads it from there, and
        # a large answer's multi-MB results come back as files too (see bot.gateway.spill):
        # tens of MB never travel through the pool's pipe.
        pump = None
        if on_preview is not None:
            pump = PreviewPump(self._cpu, on_preview, spool_dir=self.spool_dir)
        async with (
            Workdir(self._cpu, self.spool_dir, 2 * self.max_response_bytes) as work,
            pump or contextlib.nullcontext(),
        ):
            sinks: list[BinaryIO] = []

            def body_sink(response_headers: httpx.Headers) -> BinaryIO:
                sinks.append(work.sink("body", declared_length(response_headers)))
                return sinks[-1] if pump is None else pump.tee(sinks[-1], response_headers)

            try:
                status, response_headers, _ = await self._fetch(
                    gateway,
                    prepared.method,
                    prepared.url,
                    headers,
                    prepared.body,
                    self.max_response_bytes,
                    sink=body_sink,
                )
                body_bytes = sinks[-1].tell()
            finally:
                for sink in sinks:
                    sink.close()
            if pump is not None:
                await pump.stop()  # the answer is in: no previews while it is parsed
            return await parse_spooled(
                work,
                status,
                response_headers.get("content-type"),
                body_bytes=body_bytes,
                retry_after=retry_after_header(response_headers),
                model=model,
                upload_limit=upload_limit,
            )

    async def _retrying(self, gateway: GatewayConfig, attempt: Callable[[], Awaitable[T]]) -> T:
        retries = 0
        while True:
            try:
                return await attempt()
            except GatewayError as exc:
                delay = self._retry_delay(exc, retries) if retries < gateway.max_retries else None
                if delay is None:
                    raise
                retries += 1
                log.info(
                    "gateway %s: %s; retry %d/%d in %.2fs",
                    gateway_address(gateway.base_url),
                    type(exc).__name__,
                    retries,
                    gateway.max_retries,
                    delay,
                )
                await asyncio.sleep(delay)

    def _retry_delay(self, exc: GatewayError, retries: int) -> float | None:
        if not exc.retryable:
            return None
        if exc.retry_after is not None:
            return exc.retry_after if exc.retry_after <= self.max_retry_wait else None
        backoff = min(self.backoff_max, self.backoff_base * 2**retries)
        return backoff * random.uniform(0.75, 1.0)

    # ------------------------------------------------------------------ transport

    async def _fetch(
        self,
        gateway: GatewayConfig,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        cap: int,
        *,
        sink: Sink | None = None,
    ) -> tuple[int, httpx.Headers, bytes]:
        """``exchange.fetch`` with this client's HTTP client and resolver."""
        return await fetch(
            self._http,
            gateway,
            method,
            url,
            headers,
            body,
            cap,
            resolve=self._resolve,
            sink=sink,
        )

    # ------------------------------------------------------------------ hosted images

    async def _download_all(
        self, gateway: GatewayConfig, parsed: ParsedResponse
    ) -> tuple[GeneratedImage, ...]:
        results = await asyncio.gather(
            *(self._download(gateway, url) for url in parsed.image_urls), return_exceptions=True
        )
        images = tuple(r for r in results if isinstance(r, GeneratedImage))
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, ImagineError):
                raise failure
        if failures and not images and not parsed.result.images:
            raise failures[0]
        if failures:
            log.warning(
                "%d of %d hosted images could not be downloaded", len(failures), len(results)
            )
        return images

    async def _download(self, gateway: GatewayConfig, url: str) -> GeneratedImage:
        # The key goes only to the gateway's own host, never to a third-party image host.
        origin = urlsplit(gateway.base_url)[:2]
        for _hop in range(MAX_REDIRECTS + 1):
            headers: dict[str, str] = {"Accept": "image/*", "Accept-Encoding": ACCEPT_ENCODING}
            if urlsplit(url)[:2] == origin:
                headers = auth_headers(gateway, {**headers, **gateway.extra_headers})
            status, response_headers, data = await self._fetch(
                gateway, "GET", url, headers, None, self.max_response_bytes
            )
            location = response_headers.get("location")
            if status in (301, 302, 303, 307, 308) and location:
                url = urljoin(url, location)
                continue
            if status >= 400:
                # Translators: {status} is the HTTP status code (403, 404).
                raise MalformedResponse(
                    _(
                        "The image service returned an image link that could not be "
                        "downloaded (HTTP {status}).",
                        status=status,
                    )
                )
            return await self._cpu.run(inspect_output, data)
        raise MalformedResponse(_("The image service's image link redirected too many times."))

    # ------------------------------------------------------------------ model list

    async def _list_models_once(self, gateway: GatewayConfig) -> list[str]:
        url = get_dialect(gateway.dialect).models_url(gateway.base_url)
        headers = auth_headers(
            gateway,
            {
                "Accept": "application/json",
                "Accept-Encoding": ACCEPT_ENCODING,
                **gateway.extra_headers,
            },
        )
        status, response_headers, body = await self._fetch(
            gateway, "GET", url, headers, None, MAX_MODELS_BYTES
        )
        return read_model_list(status, response_headers, body)
