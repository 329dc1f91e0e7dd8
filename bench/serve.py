"""The fake gateway, in a process of its own: ``python -m bench.serve SIZE[,SIZE]``.

Serving a 31 MB body costs the server's event loop real time; in the measured
process it would show up as the bot's own lag and memory. So the gateway runs
here, answers every POST on loopback with a prebuilt body chosen by the model
name (``bench:<size>:<shape>[:<delay ms>]``), and prints ``PORT <n>`` once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from aiohttp import web

from bench.fixtures import BY_LABEL, SHAPES, body_for, photo_png


def model_name(size: str, shape: str, delay_ms: int = 0) -> str:
    return f"bench:{size}:{shape}:{delay_ms}"


def _parse_model(model: str) -> tuple[str, str, float]:
    _, size, shape, *rest = model.split(":")
    return size, shape, (int(rest[0]) / 1000 if rest else 0.0)


def build_app(sizes: list[str]) -> web.Application:
    bodies = {
        (size, shape): body_for(shape, photo_png(BY_LABEL[size]))
        for size in sizes
        for shape in SHAPES
    }

    async def chat(request: web.Request) -> web.StreamResponse:
        payload = await request.json()
        size, shape, delay = _parse_model(payload["model"])
        if delay:
            await asyncio.sleep(delay)
        return web.Response(body=bodies[(size, shape)], content_type="application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_post("/chat/completions", chat)
    return app


async def main(sizes: list[str]) -> None:
    app = build_app(sizes)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(f"PORT {port}", flush=True)
    # Exit when the parent closes our stdin: no orphan servers after a crash.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", help="comma-separated size labels, e.g. 1K,4K")
    args = parser.parse_args()
    asyncio.run(main(args.sizes.split(",")))
