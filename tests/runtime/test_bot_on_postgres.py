"""The real bot on a real PostgreSQL: the runtime it gets, and a hand-over at shutdown."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.runtime.postgres import PostgresAdmissions
from bot.runtime.postgres.presence import HEARTBEAT_SECONDS, LEASE_SECONDS
from bot.workers import CpuPool
from tests.bot.helpers import button
from tests.bot.test_queue import _running, _sent
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes
from tests.harness import BotHarness, make_settings
from tests.runtime.conftest import OpenProcess

IMAGE = png_bytes(8, 8, (4, 5, 6))


async def _released(runtime: Any) -> None:
    # The admit block ends after the answer; nothing crosses the wire when it does.
    while runtime.admissions.in_flight():  # noqa: ASYNC110
        await asyncio.sleep(0.01)


@pytest.fixture
async def pg_bot(
    fakes: tuple[FakeDiscord, FakeGateway], tmp_path: Path, cpu_pool: CpuPool, postgres_url: str
) -> AsyncIterator[BotHarness]:
    fake, gw = fakes
    settings = replace(
        make_settings(fake, gw, tmp_path / "unused.db"),
        database_url=postgres_url,
        instance_name="blue",
    )
    harness = BotHarness(fake, gw, settings, cpu_pool)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def test_the_bot_on_postgresql_runs_jobs_as_a_process_of_its_own(
    pg_bot: BotHarness, pg: Any
) -> None:
    h = pg_bot
    assert h.bot is not None
    runtime = h.bot.runtime
    assert isinstance(runtime.admissions, PostgresAdmissions)
    assert re.fullmatch(r"blue:[0-9a-f]{8}", runtime.owner)
    h.gw.script(Reply(body=images_response([IMAGE])))

    st = await h.result(await h.fake.slash("imagine", {"prompt": "a harbour"}))

    assert st.original.files[0][1] == IMAGE
    job = await h.store.get_job(1)
    assert job.state == "done" and job.owner == runtime.owner
    assert [r["id"] for r in await pg.fetch("SELECT id FROM runtime_workers")] == [runtime.owner]
    await asyncio.wait_for(_released(runtime), 15)  # the slot goes once the answer is out
    assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 0
    assert await pg.fetchval("SELECT count(*) FROM runtime_places") == 0


async def test_a_job_stopped_by_shutdown_is_reported_once_by_the_next_process(
    pg_bot: BotHarness, pg: Any
) -> None:
    h = pg_bot
    h.gw.script(Reply(body=images_response([IMAGE]), delay=30))
    it = await h.fake.slash("imagine", {"prompt": "never finishes"})
    await h.gw.wait_for_requests(1)
    assert h.bot is not None
    first = h.bot.runtime.owner

    await h.restart()  # the first process leaves; the next (a new owner) takes over its job

    assert h.bot is not None and h.bot.runtime.owner != first
    st = await h.fake.interaction_result(
        it, lambda s: "interrupted" in (s.original.content or ""), timeout=30
    )
    assert "“never finishes” was interrupted" in st.original.content
    assert "imagine:rerun:1" in st.original.custom_ids()
    assert (await h.store.get_job(1)).state == "interrupted"
    assert [r["id"] for r in await pg.fetch("SELECT id FROM runtime_workers")] == [
        h.bot.runtime.owner
    ]


async def test_a_nul_in_the_prompt_and_the_model_s_text_does_not_fail_the_job(
    pg_bot: BotHarness, pg: Any
) -> None:
    # PostgreSQL refuses U+0000 in text: the store keeps U+FFFD in its place.
    h = pg_bot
    h.gw.script(Reply(body=images_response([IMAGE], text="here\u0000it is")))

    st = await h.result(await h.fake.slash("imagine", {"prompt": "a\u0000harbour"}))

    assert st.original.files[0][1] == IMAGE
    assert "here" in (st.original.content or "")
    job = await h.store.get_job(1)
    assert (job.state, job.prompt, job.result["text"]) == (
        "done",
        "a\ufffdharbour",
        "here\ufffdit is",
    )
    assert await pg.fetchval("SELECT model_text FROM turns") == "here\ufffdit is"


async def test_a_job_taken_over_while_it_ran_tells_the_member_nothing_more(
    pg_bot: BotHarness, pg: Any
) -> None:
    h = pg_bot
    answer = asyncio.Event()
    h.gw.script(Reply(status=400, body={"error": {"message": "bad prompt"}}, hold=answer))
    it = await h.fake.slash("imagine", {"prompt": "a lighthouse"})
    await h.gw.wait_for_requests(1)
    assert h.bot is not None
    # A survivor reaped this process meanwhile, and told the member.
    await pg.execute("UPDATE jobs SET state = 'interrupted', counted = false WHERE id = 1")
    answer.set()

    await asyncio.wait_for(_released(h.bot.runtime), 15)
    st = await h.fake.interaction_result(it, lambda _: True)
    assert "bad prompt" not in (st.original.content or "")
    assert "did not accept" not in (st.original.content or "")
    assert (await h.store.get_job(1)).state == "interrupted"


async def test_a_cancel_pressed_on_another_process_hangs_up_the_job_here(
    pg_bot: BotHarness, processes: OpenProcess
) -> None:
    # The press lands on another process (a reshard, a /me answered elsewhere): that
    # process's runner asks its runtime, as JobRunner.cancel does.
    h = pg_bot
    # With the bot's own lease: a process judges the job's owner live by its own lease, and
    # the tests' 1 s lease is shorter than the bot's 2 s heartbeat (a slow press found the
    # owner dead and was refused).
    elsewhere = await processes("green", lease=LEASE_SECONDS, heartbeat=HEARTBEAT_SECONDS)
    asker, it = await _running(h)
    job = await h.store.get_job(1)
    assert h.bot is not None and job.owner == h.bot.runtime.owner

    by = int(asker["user"]["id"])
    assert await elsewhere.cancels.request(job.id, by=by) is True

    await _sent(h, it, f"Cancelled by <@{by}>.")
    await asyncio.wait_for(h.gw.wait_for_hang_ups(1), 30)  # the connection was closed
    assert h.gw.hung_up == h.gw.requests[:1]
    job = await h.store.get_job(1)
    assert (job.state, job.counted, job.result["cancelled_by"]) == ("failed", False, by)
    assert await h.store.usage_summary(h.guild_id, 0) == []


async def test_a_modal_submit_reaching_two_sessions_is_answered_once(pg_bot: BotHarness) -> None:
    # During a hand-over both processes' sessions get the submit; the copy here stands for
    # the second session's, and the claim in PostgreSQL is what keeps either from answering
    # twice (Discord refuses the second answer with 40060).
    h = pg_bot
    held = asyncio.Event()
    h.gw.script(
        Reply(body=images_response([IMAGE])), Reply(body=images_response([IMAGE]), hold=held)
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, button(st.original, "edit"))
    await h.fake.wait_for_interaction_reply(opened)
    assert opened.modal is not None
    (field_id,) = [
        c["custom_id"] for row in opened.modal["components"] for c in row.get("components", [])
    ]
    submitted = await h.fake.submit_modal(opened, {field_id: "add clouds"})
    await h.gw.wait_for_requests(2)  # its job is at the gateway: the modal is still live

    await h.fake.dispatch("INTERACTION_CREATE", submitted.payload)
    await asyncio.sleep(1.0)  # the copy's turn to answer, were it to
    held.set()
    done = await h.result(submitted)

    assert done.original.files[0][1] == IMAGE
    answers = h.fake.find(lambda r: r.path.startswith(f"/interactions/{submitted.id}/"))
    assert [r.status for r in answers] == [200]
    assert len(h.gw.requests) == 2
