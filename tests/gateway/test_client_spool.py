"""Response bodies spooled to temp files: always removed, and images pre-fitted in the worker."""

from __future__ import annotations

import asyncio
import io

import pytest
from PIL import Image

from bot.errors import GatewayUnavailable, MalformedResponse
from bot.types import ImageRequest
from tests.fakes.gateway import Reply, markdown_response, openai_error, png_bytes

REQUEST = ImageRequest(model="gemini-3-pro-image-preview", prompt="a lighthouse")


def noisy_png(width: int = 96, height: int = 96) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((width, height), 64).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture
def spool(tmp_path):
    path = tmp_path / "spool"
    path.mkdir()
    return path


async def test_body_file_removed_after_success(make_client, gateway_for, fake_gateway, spool):
    fake_gateway.script(Reply(body=markdown_response([png_bytes(10, 6)], "here")))
    result = await make_client(spool_dir=str(spool)).generate(gateway_for(), REQUEST)
    assert result.images[0].data == png_bytes(10, 6)
    assert list(spool.iterdir()) == []


async def test_body_file_removed_after_errors(make_client, gateway_for, fake_gateway, spool):
    client = make_client(spool_dir=str(spool))
    fake_gateway.script(Reply(status=503, body=openai_error("down", code=503)))
    with pytest.raises(GatewayUnavailable):
        await client.generate(gateway_for(max_retries=0), REQUEST)
    fake_gateway.script(Reply(body="<html>not json</html>", content_type="text/html"))
    with pytest.raises(MalformedResponse):
        await client.generate(gateway_for(max_retries=0), REQUEST)
    assert list(spool.iterdir()) == []


async def test_body_file_removed_when_cancelled_mid_body(
    make_client, gateway_for, fake_gateway, spool
):
    fake_gateway.script(Reply(stream=64 * 1024 * 1024, chunk=16 * 1024))
    task = asyncio.create_task(make_client(spool_dir=str(spool)).generate(gateway_for(), REQUEST))
    await fake_gateway.wait_for_requests(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert list(spool.iterdir()) == []


async def test_upload_limit_fits_in_the_parsing_worker(make_client, gateway_for, fake_gateway):
    original = noisy_png()
    limit = len(original) // 2
    fake_gateway.script(Reply(body=markdown_response([original], "here")))
    result = await make_client().generate(gateway_for(), REQUEST, upload_limit=limit)
    image = result.images[0]
    assert image.data == original  # stored and replayed as the gateway sent it
    assert image.fitted is not None and len(image.fitted.data) <= limit
    assert (image.fitted.width, image.fitted.height) == (image.width, image.height)
    assert result.blobs[next(iter(result.blobs))] == original


async def test_images_under_the_limit_are_not_refitted(make_client, gateway_for, fake_gateway):
    fake_gateway.script(Reply(body=markdown_response([png_bytes(10, 6)], "here")))
    result = await make_client().generate(gateway_for(), REQUEST, upload_limit=10 * 1024 * 1024)
    assert result.images[0].fitted is None
