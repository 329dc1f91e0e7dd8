"""The progress a member watches while a job runs: elapsed time, waiting for the channel."""

from __future__ import annotations

import asyncio

import pytest

import bot.discord_bot.delivery
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(24, 24, (5, 100, 200))
FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))


def _content(request) -> str:
    return (request.json or {}).get("content") or ""


async def test_progress_shows_elapsed_time_then_the_result(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    monkeypatch.setattr(bot.discord_bot.delivery, "PROGRESS_INTERVAL", 0.05)
    h.gw.script(Reply(body=images_response([IMAGE]), delay=1.0))
    it = await h.fake.slash("imagine", {"prompt": "a slow one"})
    tick = await h.fake.wait_for(
        lambda r: (
            r.method == "PATCH"
            and r.path.endswith("/@original")
            and _content(r).startswith("Generating…")
        )
    )
    assert tick.status == 200 and _content(tick).endswith(" s")
    st = await h.result(it)
    assert st.original.files[0][1] == IMAGE


async def test_an_edit_waiting_for_the_channel_says_so(running_bot: BotHarness) -> None:
    h = running_bot
    answer = asyncio.Event()
    h.gw.script(
        Reply(body=images_response([IMAGE])),
        Reply(body=images_response([FIRST]), hold=answer),
        Reply(body=images_response([SECOND])),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a castle"}))
    running = await h.fake.slash("imagine", {"prompt": "a tower"})  # its answer held back
    await h.gw.wait_for_requests(2)
    it = await h.fake.slash("edit", {"prompt": "make it night"})

    def progress(text: str, absent: str | None = None):
        def check(r) -> bool:
            content = (r.json.get("content") if isinstance(r.json, dict) else "") or ""
            return (
                r.method == "PATCH"
                and it.token in r.path
                and text in content
                and (absent is None or absent not in content)
            )

        return check

    await h.fake.wait_for(progress("Waiting for the images in progress in this channel"))
    assert len(h.gw.requests) == 2
    answer.set()
    await h.result(running)
    busy = await h.fake.wait_for(progress("Editing…", absent="Waiting"))
    assert busy.json["content"].startswith("Editing… ")
    done = await h.result(it)
    assert done.original.files[0][1] == SECOND
