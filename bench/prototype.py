"""Scratch prototypes of the fixes proposed for bot/ (issue 5), measured by the bench.

Not used by the bot. Each function is a candidate change, kept here so the numbers
in the report can be reproduced (``python -m bench.prototype``):

- ``fast_chat_image``: what ``gateway/parsing.py`` would do with ``str.find`` instead
  of three regex passes over the base64, one SHA-256 instead of two, and an O(1)
  canonical-base64 check instead of re-encoding the payload.
- ``parse_and_fit``: parse and fit in one worker call, so the decoded image never
  crosses the process boundary twice (only the upload-ready bytes come back).
- ``*_file`` variants: the body travels to the worker as a temp file (page cache)
  instead of through the pool's pipe, and the result comes back the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import statistics
import tempfile
from pathlib import Path

import orjson
import pybase64

from bench.targets import UPLOAD_LIMIT_BYTES

_B64_TAIL_BITS = {2: 0x0F, 1: 0x03}  # '=' count -> bits that must be zero in the last char
_B64_VALUES = {
    c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
}


def is_canonical_b64(payload: str) -> bool:
    """True when re-encoding the decoded bytes gives ``payload`` back.

    (After a validate=True decode.)
    """
    if len(payload) % 4:
        return False
    pad = len(payload) - len(payload.rstrip("="))
    if pad == 0:
        return True
    return not (_B64_VALUES[payload[-pad - 1]] & _B64_TAIL_BITS[pad])


def _payload_span(text: str, start: int = 0) -> tuple[int, int] | None:
    """Where the base64 of the first ``data:image/...;base64,`` URI in ``text`` lies."""
    head = text.find("data:image/", start)
    if head < 0:
        return None
    comma = text.find("base64,", head, head + 200)
    if comma < 0:
        return None
    begin = comma + 7
    # The payload ends at the Markdown ')' or the end of the string: both found by memchr.
    end = text.find(")", begin)
    return begin, (len(text) if end < 0 else end)


def fast_chat_image(body: bytes | memoryview):
    """The first image of a chat-completion body: the work parsing.py needs, and no more."""
    from bot.images import inspect_output

    message = orjson.loads(body)["choices"][0]["message"]
    images = message.get("images")
    text = images[0]["image_url"]["url"] if images else message["content"]
    span = _payload_span(text)
    assert span is not None
    payload = text[span[0] : span[1]]
    data = pybase64.b64decode(payload, validate=True)
    canonical = is_canonical_b64(payload)
    digest = hashlib.sha256(data).hexdigest()  # once: dedupe key and blob id alike
    # raw_turn: the text with the payload swapped for the blob reference (small copies only).
    raw_text = text[: span[0]] + f"$blob:{digest}" + text[span[1] :] if canonical else text
    del raw_text
    return inspect_output(data)


def parse_and_fit(body: bytes, limit: int = UPLOAD_LIMIT_BYTES):
    """Current parser + fit in one worker call."""
    from bot.gateway.parsing import parse_response
    from bot.images import fit_for_upload

    images = parse_response(body, 200, "application/json").to_result().images
    return [fit_for_upload(i, limit) if len(i.data) > limit else i for i in images]


def fast_parse_and_fit(body: bytes | memoryview, limit: int = UPLOAD_LIMIT_BYTES):
    from bot.images import fit_for_upload

    image = fast_chat_image(body)
    return [fit_for_upload(image, limit) if len(image.data) > limit else image]


def fast_parse_and_fit_file(path: str, limit: int = UPLOAD_LIMIT_BYTES) -> tuple[str, str, int]:
    """Body from a temp file; upload-ready bytes to a temp file. Returns (path, mime, size)."""
    with open(path, "rb") as f:
        body = f.read()
    os.unlink(path)
    image = fast_parse_and_fit(body, limit)[0]
    fd, out = tempfile.mkstemp(prefix="bench-out-")
    with os.fdopen(fd, "wb") as f:
        f.write(image.data)
    return out, image.mime, len(image.data)


def body_to_file(body: bytes) -> str:
    fd, path = tempfile.mkstemp(prefix="bench-body-")
    with os.fdopen(fd, "wb") as f:
        f.write(body)
    return path


async def variants(cpu, body: bytes, reps: int) -> dict[str, float]:
    """Median seconds of each variant, body received -> bytes ready, interleaved per rep."""
    from bench import baselines, project

    async def via_file() -> None:
        out, _, _ = await cpu.run(fast_parse_and_fit_file, body_to_file(body))
        await asyncio.to_thread(Path(out).read_bytes)
        os.unlink(out)

    runs = {
        "floor": lambda: asyncio.sleep(0, baselines.floor(body)),
        "current": lambda: project.pipeline(cpu, body),
        "one call": lambda: cpu.run(parse_and_fit, body),
        "fast parse, one call": lambda: cpu.run(fast_parse_and_fit, body),
        "fast parse, one call, file transport": via_file,
    }
    samples: dict[str, list[float]] = {k: [] for k in runs}
    loop = asyncio.get_running_loop()
    for _ in range(reps):
        for name, run in runs.items():
            t = loop.time()
            await run()
            samples[name].append(loop.time() - t)
    return {k: statistics.median(v) for k, v in samples.items()}


async def _main() -> None:
    from bench.fixtures import BY_LABEL, SHAPES, body_for, photo_png
    from bot.workers import CpuPool

    async with CpuPool() as cpu:
        for label, reps in (("1K", 9), ("2K", 5), ("4K", 3)):
            for shape in SHAPES:
                body = body_for(shape, photo_png(BY_LABEL[label]))
                medians = await variants(cpu, body, reps)
                floor = medians["floor"]
                print(
                    f"{label} {shape:8}",
                    "  ".join(
                        f"{k}: {v * 1000:.0f} ms ({v / floor:.2f}x)" for k, v in medians.items()
                    ),
                    flush=True,
                )


async def _versus_sdk(base_url: str, reps: int = 5) -> None:
    """Request -> bytes ready: the prototype path against the openai-SDK path, same fake gateway."""
    import httpx
    from openai import AsyncOpenAI

    from bench import baselines
    from bench.fixtures import SHAPES
    from bench.serve import model_name
    from bot.workers import CpuPool

    async with (
        CpuPool() as cpu,
        httpx.AsyncClient(timeout=120) as http,
        AsyncOpenAI(base_url=base_url, api_key="k", max_retries=0) as sdk,
    ):
        loop = asyncio.get_running_loop()
        for label in ("1K", "2K", "4K"):
            for shape in SHAPES:
                model = model_name(label, shape)
                ours, theirs = [], []
                for _ in range(reps):
                    t = loop.time()
                    await proto_job(http, cpu, base_url, model)
                    ours.append(loop.time() - t)
                    t = loop.time()
                    await baselines.sdk_generate(sdk, model, "bench")
                    theirs.append(loop.time() - t)
                a, b = statistics.median(ours), statistics.median(theirs)
                print(
                    f"{label} {shape:8} prototype e2e {a * 1000:.0f} ms  "
                    f"sdk e2e {b * 1000:.0f} ms  ({a / b:.2f}x)",
                    flush=True,
                )


async def fetch_to_file(http, url: str, model: str) -> str:
    """Stream the response body straight into a temp file: the bot never holds it in RAM."""
    fd, path = tempfile.mkstemp(prefix="bench-body-")
    with os.fdopen(fd, "wb") as f:
        async with http.stream(
            "POST", url, json={"model": model, "messages": [{"role": "user", "content": "bench"}]}
        ) as response:
            async for chunk in response.aiter_raw():
                f.write(chunk)
    return path


async def proto_job(http, cpu, base_url: str, model: str) -> int:
    path = await fetch_to_file(http, f"{base_url}/chat/completions", model)
    out, _, size = await cpu.run(fast_parse_and_fit_file, path)
    os.unlink(out)
    return size


def _nice() -> None:
    os.nice(10)


def nice_pool():
    """A CpuPool whose workers run at nice 10, so the event loop wins the CPU when it wants it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from bot.workers import CpuPool, _warm_up

    class NicePool(CpuPool):
        def _ensure(self):
            if self._executor is None:
                self._executor = ProcessPoolExecutor(
                    max_workers=self._max_workers,
                    mp_context=multiprocessing.get_context("forkserver"),
                    initializer=_nice,
                )
            return self._executor

    assert _warm_up
    return NicePool()


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["sdk"]:
        from bench.procs import fake_gateway

        with fake_gateway(["1K", "2K", "4K"]) as url:
            asyncio.run(_versus_sdk(url))
    else:
        asyncio.run(_main())
