"""The project's own path, called exactly as the bot calls it (through the CpuPool).

Kept in one module so that when the bot's call sequence changes, the bench
changes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.targets import UPLOAD_LIMIT_BYTES


async def fit_images(cpu, images: Sequence, limit: int = UPLOAD_LIMIT_BYTES) -> list:
    """What bot.discord_bot.delivery.fit_images does: original bytes when they fit, the worker's
    pre-fitted bytes when those fit, else one re-encode."""
    from dataclasses import replace

    from bot.images.outputs import fit_for_upload

    out = []
    for image in images:
        fitted = getattr(image, "fitted", None)
        if len(image.data) <= limit:
            out.append(image)
        elif fitted is not None and len(fitted.data) <= limit:
            out.append(fitted)
        else:
            out.append(await cpu.run(fit_for_upload, replace(image, fitted=None), limit))
    return out


async def pipeline(
    cpu, body: bytes, limit: int = UPLOAD_LIMIT_BYTES, content_type: str = "application/json"
) -> list:
    """From "response body received" to "bytes ready to upload".

    The bot spools the body to a file as it arrives and gets large results back as
    files (bot.gateway.spill); that write and those reads are counted here.
    """
    from bot.gateway.spill import Workdir, parse_spooled

    async with Workdir(cpu, room_needed=2 * len(body)) as work:
        with work.sink("body") as f:
            f.write(body)
        parsed = await parse_spooled(
            work, 200, content_type, body_bytes=len(body), upload_limit=limit
        )
    return await fit_images(cpu, parsed.to_result().images, limit)


def http_client(timeout: float, max_connections: int):
    """The bot's HTTP client (its transport is a large part of a job's cost)."""
    import httpx

    from bot.transport import http_client as make

    return make(timeout=timeout, limits=httpx.Limits(max_connections=max_connections))


def gateway_config(base_url: str):
    from bot.types import GatewayConfig

    return GatewayConfig(
        base_url=base_url, api_key="bench-key", dialect="openrouter", max_retries=0
    )


def image_request(model: str):
    from bot.types import ImageRequest

    return ImageRequest(model=model, prompt="a photo of a lighthouse at dusk", image_size="4K")


def gateway_client(http, cpu):
    """The bot's GatewayClient, or None while bot.gateway does not provide it yet."""
    try:
        from bot.gateway import GatewayClient
    except ImportError:
        try:
            from bot.gateway.client import GatewayClient
        except ImportError:
            return None
    from bot.limits import (
        DEFAULT_MAX_INPUT_BYTES,
        DEFAULT_MAX_REQUEST_BYTES,
        DEFAULT_MAX_RESPONSE_BYTES,
    )

    return GatewayClient(
        http,
        cpu,
        max_image_bytes=DEFAULT_MAX_INPUT_BYTES,
        max_request_bytes=DEFAULT_MAX_REQUEST_BYTES,
        max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
    )


async def generate_and_fit(
    client, cpu, gateway, model: str, limit: int = UPLOAD_LIMIT_BYTES
) -> list:
    """Request through the real client, then the delivery's fit: one whole job minus Discord."""
    result = await client.generate(gateway, image_request(model), upload_limit=limit)
    return await fit_images(cpu, result.images, limit)
