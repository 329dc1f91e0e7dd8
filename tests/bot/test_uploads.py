"""UploadBytes: what aiohttp sends for it is the file, byte for byte, under its name."""

from __future__ import annotations

import os

import aiohttp
import discord
from aiohttp import web

from bot.discord_bot.uploads import UploadBytes


async def test_a_file_made_of_upload_bytes_arrives_whole_under_its_name() -> None:
    data = os.urandom(3 * 1024 * 1024 + 7)  # several socket buffers' worth
    received: list[tuple[str | None, bytes]] = []

    async def upload(request: web.Request) -> web.Response:
        async for part in await request.multipart():
            assert isinstance(part, aiohttp.BodyPartReader)
            received.append((part.filename, await part.read()))
        return web.json_response({})

    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post("/", upload)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        file = discord.File(UploadBytes(data), filename="imagine-1-1.png")
        form = aiohttp.FormData()
        form.add_field("files[0]", file.fp, filename=file.filename)
        async with aiohttp.ClientSession() as session:
            for _ in range(2):  # discord.py rebuilds the form from the same file on a retry
                file.reset()
                async with session.post(f"http://127.0.0.1:{port}/", data=form) as response:
                    assert response.status == 200
                form = aiohttp.FormData()
                form.add_field("files[0]", file.fp, filename=file.filename)
    finally:
        await runner.cleanup()
    assert received == [("imagine-1-1.png", data)] * 2
