"""The Discord side of a survivor's report: the hook the PostgreSQL reaper calls.

The bot registers ``ImageBot._report_taken_over`` with ``Runtime.presence.recover``;
here it is handed a job another process left, as the reaper hands it (the reaper
itself is tested in test_presence.py).
"""

from __future__ import annotations

import pytest

from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(8, 8, (1, 2, 3))


async def _left_running(h: BotHarness, prompt: str) -> object:
    h.gw.script(Reply(body=images_response([IMAGE]), delay=30))  # the process "dies" first
    member = await h.fake.member(name="unlucky")
    it = await h.fake.slash("imagine", {"prompt": prompt}, member=member)
    await h.gw.wait_for_requests(1)
    return it


async def test_a_taken_over_job_is_told_in_its_own_answer_while_the_token_lasts(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    it = await _left_running(h, "a lighthouse in a storm")
    (job,) = await h.store.interrupt_running_jobs(h.bot.runtime.owner)  # what the reaper does

    await h.bot._report_taken_over([job])

    st = await h.fake.interaction_result(it, lambda s: "interrupted" in (s.original.content or ""))
    assert "“a lighthouse in a storm” was interrupted" in st.original.content
    assert f"imagine:rerun:{job.id}" in st.original.custom_ids()


async def test_a_taken_over_job_whose_token_expired_is_told_in_the_channel(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    it = await _left_running(h, "a slow painting")
    h.fake.expire(it)
    (job,) = await h.store.interrupt_running_jobs(h.bot.runtime.owner)

    await h.bot._report_taken_over([job])

    notice = await h.channel_post()
    assert f"<@{job.user_id}>" in notice.content and "“a slow painting” was interrupted" in (
        notice.content
    )
    assert f"imagine:rerun:{job.id}" in notice.custom_ids()


async def test_a_job_taken_over_while_it_ran_here_keeps_the_survivors_state(
    running_bot: BotHarness, caplog: pytest.LogCaptureFixture
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE]), delay=0.5))
    it = await h.fake.slash("imagine", {"prompt": "a lost lease"})
    await h.gw.wait_for_requests(1)
    (job,) = await h.store.interrupt_running_jobs(h.bot.runtime.owner)  # a survivor's reaper

    await h.result(it)  # the image is out, and the store is done with it

    assert (await h.store.get_job(job.id)).state == "interrupted"  # not overwritten as "done"
    assert f"job {job.id} was taken over by another process" in caplog.text
