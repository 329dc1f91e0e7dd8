"""Sections 1 and 5: pipeline cost per size and shape against the floor and the SDK path.

All timings are wall-clock medians in this process, interleaved per repetition
(floor, project, reference, sdk, ...) so that noise from other work on the
machine hits every column alike. A streamed shape is timed against its non-streamed
counterpart for the same image, interleaved the same way; its floor is that
counterpart's, and it has no SDK column (the typical bot does not read streams).
"""

from __future__ import annotations

import gc
import io
import math
from dataclasses import asdict, dataclass, field

from PIL import Image

from bench import baselines, project
from bench.fixtures import NON_STREAMED, SHAPES, Size, body_for, content_type_for, photo_png
from bench.jpeginfo import jpeg_settings
from bench.serve import model_name
from bench.stats import median, now, ratio
from bench.targets import UPLOAD_LIMIT_BYTES


@dataclass
class Row:
    size: str
    shape: str
    png_bytes: int
    body_bytes: int
    over_limit: bool
    reps: int
    floor_s: float | None = None
    project_s: float | None = None
    decode_s: float | None = None
    encode_s: float | None = None
    reference_s: float | None = None  # floor + one decode + one encode at the final quality
    ratio_vs_floor: float | None = None
    ratio_vs_reference: float | None = None
    sdk_total_s: float | None = None
    project_total_s: float | None = None
    http_only_s: float | None = None
    ratio_vs_sdk: float | None = None
    nonstream_s: float | None = None  # streamed shapes: the same image, not streamed
    ratio_vs_nonstream: float | None = None
    error: str | None = None  # the project's error for this shape, when it failed
    out_bytes: int | None = None
    out_mime: str | None = None
    out_dims_kept: bool | None = None
    jpeg_quality: int | None = None
    jpeg_subsampling: int | None = None
    psnr_db: float | None = None
    sdk_out_bytes: int | None = None
    sdk_psnr_db: float | None = None
    samples: dict = field(default_factory=dict)


# One untimed pipeline per worker of the pool (2 on this machine), per size and shape.
WARM_UP_REPS = 2
# A streamed-vs-not ratio from 1-3 pairs (--quick) swung by 0.3x between runs here while
# the two parses cost the same; each row times at least this many pairs.
MIN_STREAM_PAIRS = 5


def _timed(samples: list[float], start: float) -> None:
    samples.append(now() - start)


async def measure(size: Size, shape: str, reps: int, cpu, base_url: str) -> Row:
    from bot.errors import ImagineError

    png = photo_png(size)
    body = body_for(shape, png)
    row = Row(size.label, shape, len(png), len(body), len(png) > UPLOAD_LIMIT_BYTES, reps)
    try:
        await _measure(row, size, png, body, cpu, base_url)
    except ImagineError as exc:
        row.error = str(exc)
    return row


async def _measure(row: Row, size: Size, png: bytes, body: bytes, cpu, base_url: str) -> None:
    from openai import AsyncOpenAI

    from tests.imaging import psnr

    shape, reps = row.shape, row.reps
    plain = body_for(NON_STREAMED[shape], png) if shape in NON_STREAMED else None
    content_type = content_type_for(shape)
    pairs = math.ceil(MIN_STREAM_PAIRS / reps) if plain is not None else 1
    floor_t, proj_t, dec_t, enc_t, sdk_t, total_t, http_t, plain_t = ([] for _ in range(8))
    model = model_name(size.label, shape)
    gateway = project.gateway_config(base_url)
    async with (
        project.http_client(timeout=120, max_connections=20) as http,
        AsyncOpenAI(base_url=base_url, api_key="bench-key", max_retries=0, timeout=120) as sdk,
    ):
        client = project.gateway_client(http, cpu)
        out = sdk_out = None
        for _ in range(WARM_UP_REPS):  # first calls in a worker fault in memory, untimed
            await project.pipeline(cpu, body, content_type=content_type)
        for _ in range(reps):
            gc.collect()
            t = now()
            baselines.floor(plain or body)
            _timed(floor_t, t)
            for _ in range(pairs):
                t = now()
                out = await project.pipeline(cpu, body, content_type=content_type)
                _timed(proj_t, t)
                if plain is not None:
                    gc.collect()
                    t = now()
                    await project.pipeline(cpu, plain)
                    _timed(plain_t, t)
            if row.over_limit:
                quality, subsampling = jpeg_settings(out[0].data)
                t = now()
                im = baselines.reference_decode(png)
                _timed(dec_t, t)
                t = now()
                baselines.reference_encode(im, quality or 90, subsampling or 0)
                _timed(enc_t, t)
                del im
            if plain is None:
                t = now()
                sdk_out = await baselines.sdk_generate(sdk, model, "bench")
                _timed(sdk_t, t)
            if client is not None:
                t = now()
                await project.generate_and_fit(client, cpu, gateway, model)
                _timed(total_t, t)
            t = now()
            request = {"model": model, "messages": [{"role": "user", "content": "bench"}]}
            _ = (await http.post(f"{base_url}/chat/completions", json=request)).content
            _timed(http_t, t)

    row.floor_s, row.project_s = median(floor_t), median(proj_t)
    row.ratio_vs_floor = ratio(row.project_s, row.floor_s)
    if row.over_limit:
        row.decode_s, row.encode_s = median(dec_t), median(enc_t)
        row.reference_s = row.floor_s + row.decode_s + row.encode_s
        row.ratio_vs_reference = ratio(row.project_s, row.reference_s)
    row.sdk_total_s, row.project_total_s = median(sdk_t), median(total_t)
    row.http_only_s = median(http_t)
    row.ratio_vs_sdk = ratio(row.project_total_s, row.sdk_total_s)
    row.nonstream_s = median(plain_t)
    row.ratio_vs_nonstream = ratio(row.project_s, row.nonstream_s)

    image = out[0]
    row.out_bytes, row.out_mime = len(image.data), image.mime
    with Image.open(io.BytesIO(image.data)) as im:
        row.out_dims_kept = im.size == (size.width, size.height)
    row.jpeg_quality, row.jpeg_subsampling = jpeg_settings(image.data)
    row.psnr_db = psnr(png, image.data) if image.data != png else float("inf")
    if sdk_out is not None:
        row.sdk_out_bytes = len(sdk_out)
        row.sdk_psnr_db = psnr(png, sdk_out) if sdk_out != png else float("inf")
    row.samples = {
        "floor": floor_t,
        "project": proj_t,
        "decode": dec_t,
        "encode": enc_t,
        "sdk_total": sdk_t,
        "project_total": total_t,
        "http_only": http_t,
        "nonstream": plain_t,
    }


async def run(
    sizes: list[Size], shapes: tuple[str, ...], reps: dict[str, int], cpu, base_url: str
) -> list[dict]:
    rows = []
    for size in sizes:
        for shape in shapes:
            row = await measure(size, shape, reps[size.label], cpu, base_url)
            rows.append(asdict(row))
    return rows


__all__ = ["run", "measure", "SHAPES"]
