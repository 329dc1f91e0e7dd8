from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path

import pytest

from bot.storage import DEFAULT_OWNER, InvalidValue, JobNotFound, Store, TurnRecord
from tests.storage.conftest import OpenDB
from tests.storage.drivers import Probe
from tests.storage.helpers import Clock

T0 = 1_700_000_000.0


async def new_job(store: Store, *, guild: int | None = 1, user: int = 2, **params):
    return await store.create_job(
        kind="imagine",
        guild_id=guild,
        channel_id=3,
        user_id=user,
        prompt="a cat",
        params=params or {"model": "m"},
        interaction_token="tok-123",
    )


async def test_job_lifecycle(store: Store, clock: Clock) -> None:
    job = await store.create_job(
        kind="edit",
        guild_id=1,
        channel_id=3,
        user_id=2,
        prompt="make it blue",
        params={"model": "gemini", "size": "2K", "inputs": ("a" * 64,)},
        interaction_token="tok",
    )
    assert job.state == "queued"
    assert job.created_at == T0
    assert job.params == {"model": "gemini", "size": "2K", "inputs": ["a" * 64]}
    assert job.started_at is None and job.finished_at is None

    clock.advance(1)
    running = await store.update_job(job.id, state="running")
    assert running.started_at == T0 + 1

    clock.advance(30)
    done = await store.update_job(
        job.id, state="done", result={"outputs": ["b" * 64], "text": "ok"}, message_id=999
    )
    assert done.finished_at == T0 + 31
    assert done.started_at == T0 + 1
    assert done.message_id == 999
    assert await store.get_job(job.id) == done
    assert await store.get_job(12345) is None


async def test_job_update_rejects_bad_input(store: Store) -> None:
    job = await new_job(store)
    with pytest.raises(ValueError, match="state"):
        await store.update_job(job.id, state="paused")
    with pytest.raises(ValueError, match="unknown job field"):
        await store.update_job(job.id, prompt="changed")
    with pytest.raises(ValueError):
        await store.update_job(job.id, result=["not", "a", "mapping"])
    with pytest.raises(KeyError):
        await store.update_job(424242, state="done")
    with pytest.raises(JobNotFound):
        await store.update_job(424242)
    with pytest.raises(ValueError):
        await store.create_job(kind="", guild_id=1, channel_id=1, user_id=1, prompt="", params={})
    with pytest.raises(InvalidValue, match="started_at"):
        await store.update_job(job.id, state="running", started_at="soon")
    assert (await store.get_job(job.id)).state == "queued"


async def test_job_blob_references_protect_blobs(store: Store, probe: Probe) -> None:
    inp = await store.put_blob(b"input", "image/png")
    out = await store.put_blob(b"output", "image/png")
    job = await new_job(store, inputs=[inp.sha256], lookalike="c" * 64)
    await store.update_job(job.id, result={"images": [{"$blob": out.sha256}]})
    assert await store.collect_garbage() == 0
    assert await probe.job_refs(job.id) == {inp.sha256, out.sha256}  # the lookalike: no blob
    await store.update_job(job.id, result={})
    assert await store.collect_garbage() == 1
    assert await store.get_blob(inp.sha256) == b"input"


CRASHER = textwrap.dedent(
    """
    import asyncio, os, sys
    from bot.storage import open_store

    async def main():
        store = await open_store(sys.argv[1])
        ids = []
        for state in ("queued", "running", "done", "failed", "running"):
            job = await store.create_job(kind="imagine", guild_id=1, channel_id=2, user_id=3,
                                         prompt=state, params={"n": 1})
            if state != "queued":
                await store.update_job(job.id, state=state)
            ids.append(job.id)
        print(ids, flush=True)
        os._exit(1)  # a crash: no close, no checkpoint

    asyncio.run(main())
    """
)


async def test_interrupt_running_jobs_after_a_crash(open_db: OpenDB, database_url: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CRASHER,
        database_url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 1, err.decode()
    queued, running1, done, failed, running2 = json.loads(out)

    store = await open_db()
    interrupted = await store.interrupt_running_jobs(DEFAULT_OWNER)
    # Changed with the queue: the queued job never started; it stays queued to go on.
    assert [j.id for j in interrupted] == [running1, running2]
    assert (await store.get_job(queued)).state == "queued"
    assert all(j.state == "interrupted" and j.finished_at == T0 for j in interrupted)
    assert (await store.get_job(done)).state == "done"
    assert (await store.get_job(failed)).state == "failed"
    assert await store.interrupt_running_jobs(DEFAULT_OWNER) == []


async def test_interrupt_after_clean_close_and_reopen(open_db: OpenDB) -> None:
    store = await open_db()
    job = await new_job(store)
    await store.update_job(job.id, state="running")
    await store.close()
    store = await open_db()
    (again,) = await store.interrupt_running_jobs(DEFAULT_OWNER)
    assert again.id == job.id and again.prompt == "a cat" and again.interaction_token == "tok-123"


async def test_count_jobs_windows_and_filters(store: Store, clock: Clock) -> None:
    await new_job(store, guild=1, user=10)  # T0
    clock.advance(1800)
    await new_job(store, guild=1, user=10)  # T0 + 30 min
    await new_job(store, guild=1, user=11)
    await new_job(store, guild=2, user=10)
    await new_job(store, guild=None, user=10)  # a DM
    clock.advance(3601)  # now just over an hour after the second job
    await new_job(store, guild=1, user=10)

    hour_ago, day_ago = clock() - 3600, clock() - 86400
    assert await store.count_jobs(guild_id=1, user_id=10, since=hour_ago) == 1
    assert await store.count_jobs(guild_id=1, user_id=10, since=day_ago) == 3
    assert await store.count_jobs(guild_id=1, user_id=None, since=day_ago) == 4
    assert await store.count_jobs(guild_id=None, user_id=10, since=day_ago) == 5
    assert await store.count_jobs(guild_id=None, user_id=None, since=day_ago) == 6
    assert await store.count_jobs(guild_id=1, user_id=None, since=T0 + 1800) == 3  # inclusive
    assert await store.count_jobs(guild_id=3, user_id=None, since=0) == 0


async def test_count_jobs_weighs_each_job_by_its_images(store: Store, clock: Clock) -> None:
    """A count:4 job is four images in the quotas; a job whose images failed weighs less."""
    four = await store.create_job(
        kind="imagine", guild_id=1, channel_id=3, user_id=10, prompt="p", params={}, images=4
    )
    assert four.images == 4
    await new_job(store, guild=1, user=10)
    assert await store.count_jobs(guild_id=1, user_id=10, since=0) == 5
    three = await store.update_job(four.id, images=3)  # one of the four failed, uncounted
    assert three.images == 3 and (await store.get_job(four.id)).images == 3
    assert await store.count_jobs(guild_id=1, user_id=None, since=0) == 4
    await store.update_job(four.id, counted=False)
    assert await store.count_jobs(guild_id=1, user_id=10, since=0) == 1
    for bad in (-1, 1.5, "2", True):
        with pytest.raises(InvalidValue, match="images"):
            await store.update_job(four.id, images=bad)
    with pytest.raises(InvalidValue, match="images"):
        await store.create_job(
            kind="imagine", guild_id=1, channel_id=3, user_id=10, prompt="p", params={}, images=-2
        )


async def test_usage_accumulates_per_day_and_sorts(store: Store, clock: Clock) -> None:
    await store.record_usage(guild_id=1, user_id=10, images=1, tokens=1000)
    await store.record_usage(guild_id=1, user_id=10, images=2, tokens=500)
    await store.record_usage(guild_id=1, user_id=11, images=4, tokens=10)
    await store.record_usage(guild_id=1, user_id=12, images=0, tokens=99)
    await store.record_usage(guild_id=2, user_id=10, images=50, tokens=0)
    await store.record_usage(guild_id=None, user_id=10, images=50, tokens=0)
    clock.advance(86400)
    await store.record_usage(guild_id=1, user_id=12, images=1, tokens=1)

    rows = await store.usage_summary(1, since=T0)
    assert [(r.user_id, r.jobs, r.images, r.tokens) for r in rows] == [
        (11, 1, 4, 10),
        (10, 2, 3, 1500),
        (12, 2, 1, 100),
    ]
    today = await store.usage_summary(1, since=clock())
    assert [(r.user_id, r.images) for r in today] == [(12, 1)]
    assert await store.usage_summary(99, since=0) == []
    with pytest.raises(ValueError):
        await store.record_usage(guild_id=1, user_id=1, images=-1, tokens=0)
    with pytest.raises(InvalidValue, match="tokens"):
        await store.record_usage(guild_id=1, user_id=1, images=0, tokens=True)
    assert len(await store.usage_summary(1, since=T0)) == 3


async def test_costs_add_up_per_day_and_a_month_reads_whole_days(
    store: Store, clock: Clock
) -> None:
    await store.record_usage(guild_id=1, user_id=10, images=1, tokens=0, cost=0.134)
    await store.record_usage(guild_id=1, user_id=10, images=2, tokens=0, cost=0.268)
    await store.record_usage(guild_id=1, user_id=11, images=1, tokens=0)  # not priced
    await store.record_usage(guild_id=2, user_id=10, images=1, tokens=0, cost=5.0)
    clock.advance(86400)
    await store.record_usage(guild_id=1, user_id=11, images=1, tokens=0, cost=0.24)

    rows = await store.usage_summary(1, since=T0)
    assert [(r.user_id, r.cost) for r in rows] == [(10, 0.402), (11, 0.24)]
    assert await store.spend(guild_id=1, since=T0) == 0.642
    assert await store.spend(guild_id=1, since=clock()) == 0.24  # from today's whole day
    assert await store.spend(guild_id=3, since=0) == 0.0
    for bad in (-0.01, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(InvalidValue, match="cost"):
            await store.record_usage(guild_id=1, user_id=1, images=0, tokens=0, cost=bad)
    assert await store.spend(guild_id=1, since=T0) == 0.642  # nothing written by a refusal


async def test_a_job_keeps_what_it_cost(store: Store) -> None:
    job = await new_job(store)
    assert job.cost is None  # not priced until it ends
    done = await store.update_job(job.id, state="done", cost=0.24)
    assert done.cost == 0.24 and (await store.get_job(job.id)).cost == 0.24
    with pytest.raises(InvalidValue, match="cost"):
        await store.update_job(job.id, cost=-1)
    assert (await store.update_job(job.id, cost=None)).cost is None


async def test_old_finished_jobs_go_with_the_images_only_they_kept(
    store: Store, clock: Clock, probe: Probe
) -> None:
    only_job = await store.put_blob(b"only the old job", "image/png")
    shared = await store.put_blob(b"also in the history", "image/png")
    old_done = await new_job(store, inputs=[only_job.sha256, shared.sha256])
    await store.update_job(old_done.id, state="done")
    old_running = await new_job(store)
    await store.update_job(old_running.id, state="running")  # a job in flight is never removed
    await store.append_turn(
        TurnRecord(channel_id=3, guild_id=1, user_id=2, prompt="p", inputs=(shared,)), keep=5
    )
    clock.advance(10 * 86400)
    recent = await new_job(store)
    await store.update_job(recent.id, state="failed")

    assert await store.delete_jobs_before(clock() - 86400) == 1

    assert await probe.job_ids() == [old_running.id, recent.id]
    with pytest.raises(KeyError):
        await store.get_blob(only_job.sha256)
    assert await store.get_blob(shared.sha256) == b"also in the history"
    assert await probe.job_refs(old_done.id) == set()


async def test_a_backlog_of_old_jobs_goes_in_batches(store: Store, clock: Clock) -> None:
    for _ in range(25):
        job = await new_job(store)
        await store.update_job(job.id, state="done")
    clock.advance(86400)

    assert await store.delete_jobs_before(clock(), batch=10) == 25
    assert await store.count_jobs(guild_id=None, user_id=None, since=0) == 0


async def test_uncounted_jobs_are_left_out_of_quota_counts(store: Store) -> None:
    counted = await new_job(store)
    spared = await new_job(store)
    await store.update_job(spared.id, state="failed", counted=False)
    assert (await store.get_job(counted.id)).counted is True
    assert (await store.get_job(spared.id)).counted is False
    assert await store.count_jobs(guild_id=1, user_id=2, since=0) == 1
    with pytest.raises(ValueError):
        await store.update_job(counted.id, counted="no")

    await store.update_job(counted.id, state="running")
    await store.interrupt_running_jobs(
        DEFAULT_OWNER
    )  # a restart's victim cost the member nothing either
    assert await store.count_jobs(guild_id=1, user_id=2, since=0) == 0
