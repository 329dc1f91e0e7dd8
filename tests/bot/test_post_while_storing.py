"""Results are posted while their rows are written; nothing a member does next may miss them.

Storage is slowed down here (a busy disk, a 20 MB blob), so that the member acts
on a result before its rows exist: the button must still find its images, the next
edit must still see the turn, and a store that fails must not take the image away.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.bot.helpers import button
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))
FOURTH = png_bytes(32, 32, (200, 200, 0))
SLOW_STORE_SECONDS = 0.5


def slow_turns(h: BotHarness) -> list[float]:
    """Make every history write wait; returns the list of times the writes finished."""
    store = h.store
    real = store.append_turn
    finished: list[float] = []

    async def append_turn(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(SLOW_STORE_SECONDS)
        try:
            return await real(*args, **kwargs)
        finally:
            finished.append(asyncio.get_running_loop().time())

    store.append_turn = append_turn
    return finished


async def test_a_button_clicked_before_the_result_is_stored_finds_its_image(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    finished = slow_turns(h)
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}), stored=False)
    assert not finished  # on screen, not yet stored: the window this test is about

    clicked = await h.result(await h.fake.click(st.original, button(st.original, "up4k")))

    assert h.gw.requests[1].images == [FIRST]
    assert clicked.original.files[0][1] == SECOND


async def test_an_edit_right_after_a_reroll_continues_from_the_reroll(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD, FOURTH)))
    await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    edited = await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))
    finished = slow_turns(h)
    # The /edit below edits the channel's latest image, so it waits for the reroll sent
    # before it, whose turn is still being written.
    await h.result(
        await h.fake.click(edited.original, button(edited.original, "reroll")), stored=False
    )
    assert not finished

    await h.result(await h.fake.slash("edit", {"prompt": "add clouds"}))

    last = h.gw.requests[3]
    assert last.images == [THIRD]  # the reroll's image, the latest in the chain
    assert len(last.json["messages"]) == 7  # imagine, edit, reroll replayed, then this turn


async def test_a_result_whose_rows_cannot_be_written_is_still_delivered(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    h.store.append_turn = broken
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))

    assert st.original.files[0][1] == FIRST
    job_id = int(button(st.original, "reroll").rsplit(":", 1)[1])
    job = await h.store.get_job(job_id)
    assert job.state == "failed"  # not "running": a restart must not offer to run it again
    assert "not stored" in job.result["error"]


async def test_a_restart_while_a_posted_result_is_stored_finishes_the_store(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    finished = slow_turns(h)
    recorded = asyncio.Event()
    update_job = h.store.update_job

    async def noting_message_ids(job_id: int, **changes: Any) -> Any:
        job = await update_job(job_id, **changes)
        if "message_id" in changes:
            recorded.set()
        return job

    h.store.update_job = noting_message_ids
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}), stored=False)
    channel_id = int(st.original.payload["channel_id"])
    job_id = int(button(st.original, "reroll").rsplit(":", 1)[1])
    await asyncio.wait_for(recorded.wait(), 30)  # posted and recorded: only the store is left
    assert not finished

    await h.restart()  # cancels the job's task: the store must still run to its end

    job = await h.store.get_job(job_id)
    assert job.state == "done"  # not "interrupted": the member has the image
    assert [t.prompt for t in await h.store.recent_turns(channel_id, 5)] == ["a kite"]
    assert not any("interrupted" in m.content for m in h.fake.messages.values())
