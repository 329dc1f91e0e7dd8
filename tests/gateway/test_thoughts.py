"""Interim thoughts spotted in a streamed answer as it arrives, and made small in a worker."""

from __future__ import annotations

import asyncio
import io
import random

import httpx
import pytest
from PIL import Image

from bot.errors import NoImageReturned
from bot.gateway.parsing import parse_response
from bot.gateway.preview import PreviewPump
from bot.gateway.sse import decode_raw_events
from bot.gateway.thoughts import SMALL_EVENT_BYTES, ThoughtWatcher, preview_from_event
from bot.images.preview import PREVIEW_SIDE
from bot.types import Preview
from bot.workers import CpuPool
from tests.fakes.gateway import (
    chat_completion,
    chat_stream_events,
    google_response,
    google_stream_events,
    images_response,
    png_bytes,
    sse_bytes,
)

FINAL = png_bytes(24, 24, (10, 200, 10))


def noisy_png(width: int, height: int, tint: tuple[int, int, int]) -> bytes:
    """A PNG that compresses badly, so its base64 is a large event."""
    noise = Image.effect_noise((width, height), 30).convert("RGB")
    im = Image.blend(noise, Image.new("RGB", (width, height), tint), 0.8)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def fed(
    body: bytes,
    content_type: str = "text/event-stream",
    seed: int = 0,
    pieces: tuple[int, int] = (1, 5000),
    split_events: bool = False,
) -> ThoughtWatcher:
    """A watcher fed ``body`` in random pieces (or one event each), noting each change."""
    changes: list[tuple[str | None, int]] = []
    watcher = ThoughtWatcher(content_type)
    watcher._on_change = lambda: changes.append((watcher.text, watcher.image_seq))
    if split_events:
        for event in body.split(b"\n\n"):
            watcher.feed(event + b"\n\n")
    else:
        rng = random.Random(seed)
        at = 0
        while at < len(body):
            step = rng.randint(*pieces)
            watcher.feed(body[at : at + step])
            at += step
    watcher.changes = changes  # type: ignore[attr-defined]
    return watcher


def colour(jpeg: bytes) -> tuple[int, ...]:
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG"
    return im.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def test_google_thoughts_are_seen_in_order_and_the_final_image_ends_them() -> None:
    red, blue = png_bytes(64, 64, (220, 20, 20)), noisy_png(700, 500, (20, 20, 220))
    body = sse_bytes(
        google_stream_events(
            google_response(
                [FINAL],
                "Here it is.",
                thoughts=["**Planning** the layout\nPutting the cat left", "Adding colour"],
                thought_images=[red, blue],
            )
        )
    )
    # One event per piece: each change is seen as it happens.
    one_by_one = fed(body, pieces=(1, 1), split_events=True)
    assert one_by_one.changes == [  # type: ignore[attr-defined]
        ("Putting the cat left", 0),
        ("Putting the cat left", 1),
        ("Adding colour", 1),
        ("Adding colour", 2),
    ]
    # Pieces that split lines and events anywhere: the same latest state.
    watcher = fed(body)
    assert watcher.changes[-1] == ("Adding colour", 2)  # type: ignore[attr-defined]
    assert watcher.finished  # the final image arrived: nothing more to show
    # The blue draft's event was large: kept as it came, decoded only in the worker.
    assert watcher.image is not None and len(watcher.image) > SMALL_EVENT_BYTES
    preview = preview_from_event(bytes(watcher.image))
    assert preview is not None and len(preview) < 40_000
    im = Image.open(io.BytesIO(preview))
    assert max(im.size) <= PREVIEW_SIDE and im.size[0] > im.size[1]
    assert close(colour(preview), (20, 20, 220), 60)


def test_chat_reasoning_and_thought_images_are_seen() -> None:
    draft = png_bytes(40, 40, (200, 200, 0))
    events = chat_stream_events(
        images_response([FINAL]),
        thoughts=["Thinking about ", "the sky.\nChoosing a palette"],
        thought_images=[draft],
    )
    watcher = fed(sse_bytes(events), seed=4)
    assert watcher.text == "Choosing a palette"
    assert watcher.image_seq == 1 and watcher.finished
    preview = preview_from_event(bytes(watcher.image or b""))
    assert preview is not None and close(colour(preview), (200, 200, 0))


def test_a_plain_answer_is_not_watched() -> None:
    body = b'{"candidates": [{"content": {"parts": [{"text": "x", "thought": true}]}}]}'
    watcher = fed(body, "application/json")
    assert watcher.finished and watcher.text is None and watcher.image is None


@pytest.mark.parametrize("dialect", ["google", "chat"])
def test_the_final_parse_never_makes_a_thought_image_a_result(dialect: str) -> None:
    draft = png_bytes(40, 40, (200, 200, 0))
    if dialect == "google":
        events = google_stream_events(
            google_response([FINAL], "Done.", thoughts=["Hmm"], thought_images=[draft])
        )
    else:
        events = chat_stream_events(
            images_response([FINAL], "Done."), thoughts=["Hmm"], thought_images=[draft]
        )
    body = sse_bytes(events)
    assert len(decode_raw_events(body)) >= 4
    result = parse_response(body, 200, "text/event-stream").result
    assert [image.data for image in result.images] == [FINAL]
    assert result.text == "Done."


def test_a_chat_answer_with_only_thought_images_has_no_image() -> None:
    body = sse_bytes(
        chat_stream_events(
            chat_completion({"role": "assistant", "content": ""}),
            thought_images=[png_bytes(8, 8)],
        )
    )
    with pytest.raises(NoImageReturned):
        parse_response(body, 200, "text/event-stream")


def test_an_unreadable_draft_gives_no_preview() -> None:
    assert preview_from_event(b"not json") is None
    broken = (
        b'{"candidates":[{"content":{"parts":'
        b'[{"inlineData":{"data":"iVBORw0KGgo="},"thought":true}]}}]}'
    )
    assert preview_from_event(broken) is None


async def test_the_pump_shows_the_latest_state_and_nothing_once_stopped(cpu_pool: CpuPool) -> None:
    red, blue = png_bytes(64, 64, (220, 20, 20)), png_bytes(64, 64, (20, 20, 220))
    events = google_stream_events(
        google_response([FINAL], thoughts=["one", "two"], thought_images=[red, blue])
    )
    *thinking, answer = [sse_bytes([event]) for event in events]
    shown: list[Preview] = []
    arrived = asyncio.Event()

    def on_preview(preview: Preview) -> None:
        shown.append(preview)
        arrived.set()

    spool = io.BytesIO()
    async with PreviewPump(cpu_pool, on_preview, interval=3600) as pump:
        sink = pump.tee(spool, httpx.Headers({"content-type": "text/event-stream"}))
        sink.write(thinking[0])
        await asyncio.wait_for(arrived.wait(), 10)
        # The interval has not passed: the rest of the thinking waits, coalesced.
        for piece in thinking[1:]:
            sink.write(piece)
        await pump.stop()
        sink.write(answer)
    assert [(p.text, p.image) for p in shown] == [("one", None)]
    assert spool.getvalue() == b"".join(thinking) + answer  # every byte still spooled


async def test_the_pump_decodes_only_the_latest_draft(cpu_pool: CpuPool) -> None:
    red, blue = png_bytes(64, 64, (220, 20, 20)), png_bytes(64, 64, (20, 20, 220))
    events = google_stream_events(
        google_response([FINAL], thoughts=["one", "two"], thought_images=[red, blue])
    )
    shown: list[Preview] = []
    arrived = asyncio.Event()

    def on_preview(preview: Preview) -> None:
        shown.append(preview)
        arrived.set()

    async with PreviewPump(cpu_pool, on_preview, interval=0) as pump:
        sink = pump.tee(io.BytesIO(), httpx.Headers({"content-type": "text/event-stream"}))
        sink.write(sse_bytes(events[:-1]))  # all the thinking in one piece
        await asyncio.wait_for(arrived.wait(), 10)
    ((text, image),) = [(p.text, p.image) for p in shown]
    assert text == "two" and image is not None
    assert close(colour(image), (20, 20, 220))
