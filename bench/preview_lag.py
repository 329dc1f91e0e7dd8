"""The event loop's lag while a streamed answer with large thought images arrives.

    PYTHONPATH=. python -m bench.preview_lag

The fake gateway runs in a thread with its own loop, so only the client's work lands
on the loop measured: once with nobody watching the stream, once with live previews
(the watcher reading along, each due preview decoded and shrunk in a worker).
"""

from __future__ import annotations

import asyncio
import io
import statistics
import threading
import time

import httpx
from PIL import Image

from bot.gateway.client import GatewayClient
from bot.types import GatewayConfig, ImageRequest, Preview
from bot.workers import CpuPool
from tests.fakes.gateway import FakeGateway, Reply, google_response, google_stream_events

TICK = 0.001
RUNS = 2


def noisy_png(side: int, tint: tuple[int, int, int]) -> bytes:
    noise = Image.effect_noise((side, side), 40).convert("RGB")
    buf = io.BytesIO()
    Image.blend(noise, Image.new("RGB", (side, side), tint), 0.5).save(buf, "PNG")
    return buf.getvalue()


def serve(ready: threading.Event, box: dict) -> None:
    async def main() -> None:
        async with FakeGateway() as gw:
            box["gw"], box["loop"], box["stop"] = gw, asyncio.get_running_loop(), asyncio.Event()
            ready.set()
            await box["stop"].wait()

    asyncio.run(main())


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - t - TICK))


async def main() -> None:
    ready, box = threading.Event(), {}
    threading.Thread(target=serve, args=(ready, box), daemon=True).start()
    ready.wait()
    gw: FakeGateway = box["gw"]
    drafts = [noisy_png(2048, (200, 30, 30)), noisy_png(2048, (30, 30, 200))]
    final = noisy_png(1024, (30, 200, 30))
    body = google_response([final], "Done.", thoughts=["Planning", "Colour"], thought_images=drafts)
    events = google_stream_events(body)
    size = sum(len(str(e)) for e in events)
    print(f"stream: {len(events)} events, ~{size / 1e6:.1f} MB, drafts {[len(d) for d in drafts]}")
    gateway = GatewayConfig(
        base_url=gw.google_base_url, api_key="k", dialect="google", stream="on", timeout=60
    )
    async with CpuPool(2) as cpu:
        async with httpx.AsyncClient() as http:
            client = GatewayClient(http, cpu, max_response_bytes=200 * 1024 * 1024)
            for watching in (False, True, False, True) * RUNS:
                shown: list[Preview] = []
                box["loop"].call_soon_threadsafe(gw.script, Reply(sse=events, piece_delay=1.0))
                lags: list[float] = []
                stop = asyncio.Event()
                tick = asyncio.create_task(ticker(lags, stop))
                await client.generate(
                    gateway,
                    ImageRequest(model="gemini-3-pro-image-preview", prompt="p"),
                    on_preview=shown.append if watching else None,
                )
                stop.set()
                await tick
                lags.sort()
                print(
                    f"previews {'on ' if watching else 'off'}: {len(shown)} shown, "
                    f"loop lag p50 {statistics.median(lags) * 1e3:.2f} ms, "
                    f"p99 {lags[int(len(lags) * 0.99)] * 1e3:.2f} ms, max {lags[-1] * 1e3:.1f} ms"
                )
    box["loop"].call_soon_threadsafe(box["stop"].set)


if __name__ == "__main__":
    asyncio.run(main())
