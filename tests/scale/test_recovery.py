"""A process that stops mid-job: one survivor tells the member once, a restart never again.

SIGTERM: the process expires its heartbeat row and says so, and a survivor takes its job
over at once (the figure is printed; ``python -m bench`` measures it). SIGKILL: nothing
is said, and the survivor takes over once the dead process's lease runs out (8 s).
Either way the member's "thinking" answer becomes the report, with "Run again".
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

from tests.fakes import discord_payloads as p
from tests.fakes.discord_records import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.scale.cluster import PATIENCE, Cluster, cluster, no_tracebacks

INTERRUPTED = "was interrupted"


def reported(state: InteractionState) -> bool:
    return INTERRUPTED in (state.original.content if state.original else "")


async def _held_job(c: Cluster, member: dict, channel: dict, prompt: str) -> InteractionState:
    """An /imagine the gateway never answers, once its request is there."""
    count = len(c.gw.requests) + 1
    c.gw.script(Reply(body=images_response([png_bytes()]), hold=asyncio.Event()))
    it = await c.fake.slash("imagine", {"prompt": prompt}, member=member, channel=channel)
    async with asyncio.timeout(PATIENCE):
        await c.gw.wait_for_requests(count)
    return it


def report_of(member: dict, prompt: str) -> str:
    return (
        f"<@{member['user']['id']}> Your image request “{prompt}” was interrupted "
        "because the bot process running it stopped before it finished. "
        "Press the button to run it again."
    )


async def test_a_stopped_process_s_jobs_are_reported_once_by_a_survivor(
    tmp_path: Path, postgres_url: str
) -> None:
    g0 = p.guild("Zero", id=p.snowflake_on_shard(0, 2))
    g1 = p.guild("One", id=p.snowflake_on_shard(1, 2))
    member = p.member(g0, p.user("unlucky"))
    c0 = g0["channels"][0]
    async with cluster(tmp_path, postgres_url, guilds=[g0, g1], max_concurrency=2) as c:
        fake = c.fake
        zero = {"SHARD_COUNT": "2", "SHARD_IDS": "0"}
        async with c.process("survivor", SHARD_COUNT="2", SHARD_IDS="1") as survivor:
            async with c.process("a", **zero) as a:
                await c.ready(survivor, a)
                termed = await _held_job(c, member, c0, "a calm sea")
                sent = time.monotonic()
                assert await a.stop(signal.SIGTERM) == 0
                await c.result(termed, reported)
                print(f"\nSIGTERM to the survivor's report: {time.monotonic() - sent:.2f} s")
            async with c.process("a2", **zero) as a2:
                await c.ready(a2)
                killed = await _held_job(c, member, c0, "a stormy sea")
                sent = time.monotonic()
                a2.kill()
                await c.result(killed, reported)
                print(f"SIGKILL to the survivor's report: {time.monotonic() - sent:.2f} s")
            # A restart serves again (its reaper has looked once it answers) and reports nothing.
            async with c.process("a3", **zero) as a3:
                await c.ready(a3)
                c.gw.script(Reply(body=images_response([png_bytes(9, 9)])))
                served = await c.result(
                    await fake.slash("imagine", {"prompt": "again"}, member=member, channel=c0)
                )
                assert await a3.stop() == 0
            assert await survivor.stop() == 0
        jobs = await c.jobs()

    assert served.original.files
    assert termed.original.content == report_of(member, "a calm sea")
    assert killed.original.content == report_of(member, "a stormy sea")
    assert "imagine:rerun:1" in termed.original.custom_ids()
    assert "imagine:rerun:2" in killed.original.custom_ids()
    assert [len(c.edits_of_original(it, INTERRUPTED)) for it in (termed, killed)] == [1, 1]
    assert c.channel_posts(INTERRUPTED) == []
    assert jobs == [
        ("imagine", "a", "interrupted"),
        ("imagine", "a2", "interrupted"),
        ("imagine", "a3", "done"),
    ]
    assert no_tracebacks(survivor, a, a3) == []
