"""The live preview: a streamed answer's interim thoughts on the progress message.

What crossed the wire is checked: the PATCHes of the original response carrying the
small JPEG (its pixels those of the model's draft), their spacing as the fake Discord
recorded their arrival, and that the result replaces the preview and is the only image
stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from dataclasses import replace

import pytest
from PIL import Image

from bot.discord_bot.live_preview import PREVIEW_FILENAME, PREVIEW_INTERVAL
from bot.images.preview import PREVIEW_SIDE
from bot.storage import BlobNotFound
from tests.fakes.discord_records import RecordedRequest
from tests.fakes.gateway import (
    Reply,
    b64,
    chat_stream_events,
    google_response,
    google_stream_events,
    images_response,
    png_bytes,
)
from tests.harness import BotHarness

RED = png_bytes(512, 384, (220, 30, 30))
BLUE = png_bytes(512, 384, (30, 30, 220))
FINAL = png_bytes(64, 64, (20, 200, 20))
THOUGHTS = ["Planning a wide layout", "Choosing a blue palette"]
# Several edit windows pass while the model thinks.
PIECE_DELAY = 0.9
# The fake records arrival times; an edit sent on time may arrive a little early
# relative to the one before it only by the network's jitter.
TOLERANCE = 0.1


def _pixel(jpeg: bytes) -> tuple[int, ...]:
    im = Image.open(io.BytesIO(jpeg))
    assert im.format == "JPEG" and max(im.size) <= PREVIEW_SIDE
    return im.convert("RGB").resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))


def _like(pixel: tuple[int, ...], png: bytes) -> bool:
    want = Image.open(io.BytesIO(png)).convert("RGB").getpixel((0, 0))
    return all(abs(a - b) <= 24 for a, b in zip(pixel, want, strict=True))


def _edits(h: BotHarness, token: str) -> list[RecordedRequest]:
    return [
        r
        for r in h.fake.requests
        if r.method == "PATCH" and token in r.path and r.path.endswith("/@original")
    ]


def _preview_file(r: RecordedRequest) -> bytes | None:
    return next((f.data for f in r.files if f.filename == PREVIEW_FILENAME), None)


async def _imagine_watching(h: BotHarness, events: list) -> None:
    # The stream's end waits until a preview is on the progress message: on a loaded
    # machine the draft's JPEG took longer than the whole stream, and the result came first.
    shown = asyncio.Event()
    h.gw.script(Reply(sse=events, piece_delay=PIECE_DELAY, hold_last=shown))
    it = await h.fake.slash("imagine", {"prompt": "a cat on a wall"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    await h.fake.wait_until(
        lambda: any(_preview_file(r) is not None for r in _edits(h, it.token)),
        timeout=60,
        what="a preview on the progress message",
    )
    held = max(0.0, loop.time() - started - PIECE_DELAY * len(events))
    shown.set()
    st = await h.result(it, wait=30)

    edits = _edits(h, it.token)
    final = next(i for i, r in enumerate(edits) if any(f.data == FINAL for f in r.files))
    before, after = edits[:final], edits[final + 1 :]
    previews = [r for r in before if _preview_file(r) is not None]
    # The draft showed before the result, small, its pixels those of a thought image,
    # the latest one last.
    assert previews, [r.json for r in before]
    pixels = [_pixel(_preview_file(r) or b"") for r in previews]
    assert all(_like(p, RED) or _like(p, BLUE) for p in pixels), pixels
    assert not (_like(pixels[0], BLUE) and any(_like(p, RED) for p in pixels))
    assert any("-# Thinking: " in (r.json or {}).get("content", "") for r in before)
    # Edits keep the interval once previews show, as the fake saw them arrive.
    spaced = before[before.index(previews[0]) :] + [edits[final]]
    gaps = [b.at - a.at for a, b in zip(spaced, spaced[1:], strict=False)]
    assert all(gap >= PREVIEW_INTERVAL - TOLERANCE for gap in gaps[:-1]), gaps
    streamed_for = PIECE_DELAY * len(events) + held
    assert len(before) <= streamed_for / PREVIEW_INTERVAL + 2
    # Nothing edits the message once the result is on it; the result replaced the draft.
    assert after == []
    assert st.original.files == [(f"imagine-{_job_id(st)}-1.png", FINAL)]
    assert "Thinking" not in st.original.content

    # Only the result is stored as the job's output and the turn's image.
    job = await h.store.get_job(_job_id(st))
    assert job.result["outputs"] == [hashlib.sha256(FINAL).hexdigest()]
    (turn,) = await h.store.recent_turns(int(h.fake.channel["id"]), 5)
    assert [o.sha256 for o in turn.outputs] == [hashlib.sha256(FINAL).hexdigest()]


def _job_id(st) -> int:
    name = st.original.files[0][0]
    return int(name.split("-")[1])


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_google_thoughts_preview_on_the_progress_message(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, stream="on"))
    body = google_response(
        [FINAL], "A cat on a wall.", thoughts=THOUGHTS, thought_images=[RED, BLUE]
    )
    await _imagine_watching(h, google_stream_events(body))
    (request,) = h.gw.requests[-1:]
    assert request.path.endswith(":streamGenerateContent") and request.query == {"alt": "sse"}


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_thought_images_are_neither_stored_nor_replayed(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, stream="on"))
    body = google_response(
        [FINAL],
        "A cat on a wall.",
        thoughts=THOUGHTS,
        thought_images=[RED, BLUE],
        thought_signature="c2lnLTE=",
    )
    second = google_response([png_bytes(8, 8)], thought_signature="c2lnLTI=")
    h.gw.script(Reply(sse=google_stream_events(body)), Reply(sse=google_stream_events(second)))
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat on a wall"}), wait=30)
    await h.result(await h.fake.slash("edit", {"prompt": "give it a hat"}), wait=30)

    edit = h.gw.requests[-1]
    model = edit.json["contents"][1]
    assert model["role"] == "model"
    # The thought text stays, the final image and its signature too; the drafts go.
    assert model["parts"] == [
        {"text": THOUGHTS[0], "thought": True},
        {"text": THOUGHTS[1], "thought": True},
        {"text": "A cat on a wall.", "thoughtSignature": "c2lnLTE="},
        {
            "inlineData": {"mimeType": "image/png", "data": b64(FINAL)},
            "thoughtSignature": "c2lnLTE=",
        },
    ]
    for draft in (RED, BLUE):
        assert b64(draft).encode() not in edit.body
        with pytest.raises(BlobNotFound):
            await h.store.get_blob(hashlib.sha256(draft).hexdigest())


async def test_chat_thoughts_preview_on_the_progress_message(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, stream="on"))
    events = chat_stream_events(
        images_response([FINAL], "A cat on a wall."), thoughts=THOUGHTS, thought_images=[RED, BLUE]
    )
    await _imagine_watching(h, events)
    assert h.gw.requests[-1].json["stream"] is True


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_a_gateway_that_does_not_stream_shows_no_preview(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(image=replace(h.settings.image, stream="off"))
    body = google_response([FINAL], thoughts=THOUGHTS, thought_images=[RED, BLUE])
    h.gw.script(Reply(body=body, delay=2 * PREVIEW_INTERVAL))
    it = await h.fake.slash("imagine", {"prompt": "a cat on a wall"})
    st = await h.result(it, wait=30)
    assert not h.gw.requests[-1].streamed
    edits = _edits(h, it.token)
    assert [r for r in edits if _preview_file(r) is not None] == []
    assert not any("Thinking" in (r.json or {}).get("content", "") for r in edits)
    assert st.original.files[0][1] == FINAL
