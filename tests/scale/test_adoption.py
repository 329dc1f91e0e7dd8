"""A process that stops with jobs waiting in line: a survivor adopts them and runs them on.

Only the running job is reported as interrupted; the queued ones never reached the
gateway, so the survivor (a process on another shard, the same database) takes their
rows over and runs them, oldest first, as a restart would: the member's "thinking"
answer says it goes on while its token lasts, and the result is posted in the channel.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.storage import open_store
from tests.fakes import discord_payloads as p
from tests.fakes.discord_records import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.scale.cluster import PATIENCE, Cluster, cluster, no_tracebacks
from tests.scale.test_recovery import report_of

FIRST, SECOND = png_bytes(9, 9, (1, 2, 3)), png_bytes(10, 10, (4, 5, 6))
GOES_ON = "I restarted while this waited in line; it goes on, and the result will be posted below."


async def _in_line(c: Cluster, it: InteractionState, place: str) -> None:
    async with asyncio.timeout(PATIENCE):
        while not c.edits_of_original(it, place):  # noqa: ASYNC110
            await asyncio.sleep(0.05)


async def _posted(c: Cluster, word: str) -> None:
    async with asyncio.timeout(PATIENCE):
        while not [r for r in c.channel_posts(word) if r.files]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
async def test_a_stopped_process_s_queued_jobs_are_adopted_and_delivered_in_order(
    tmp_path: Path, postgres_url: str, stop: str
) -> None:
    g0 = p.guild("Zero", id=p.snowflake_on_shard(0, 2))
    g1 = p.guild("One", id=p.snowflake_on_shard(1, 2))
    c0 = g0["channels"][0]
    unlucky, early, late = (p.member(g0, p.user(name)) for name in ("unlucky", "early", "late"))
    store = await open_store(postgres_url)
    try:
        await store.update_settings(int(g0["id"]), guild_concurrency=1)
    finally:
        await store.close()
    async with cluster(tmp_path, postgres_url, guilds=[g0, g1], max_concurrency=2) as c:
        fake = c.fake
        async with c.process("survivor", SHARD_COUNT="2", SHARD_IDS="1") as survivor:
            async with c.process("a", SHARD_COUNT="2", SHARD_IDS="0") as a:
                await c.ready(survivor, a)
                c.gw.script(Reply(body=images_response([png_bytes()]), hold=asyncio.Event()))
                held = await fake.slash(
                    "imagine", {"prompt": "a held sea"}, member=unlucky, channel=c0
                )
                async with asyncio.timeout(PATIENCE):
                    await c.gw.wait_for_requests(1)
                first = await fake.slash(
                    "imagine", {"prompt": "first kite"}, member=early, channel=c0
                )
                await _in_line(c, first, "1st in line")
                second = await fake.slash(
                    "imagine", {"prompt": "second kite"}, member=late, channel=c0
                )
                await _in_line(c, second, "2nd in line")
                fake.expire(second)  # its answer cannot be edited: the channel alone tells
                c.gw.script(Reply(body=images_response([FIRST])))
                c.gw.script(Reply(body=images_response([SECOND])))
                if stop == "SIGKILL":
                    a.kill()
                else:
                    assert await a.stop(signal.SIGTERM) == 0
                await c.result(held, lambda s: "interrupted" in (s.original.content or ""))
                await _posted(c, "second kite")
            assert await survivor.stop() == 0
        jobs = await c.jobs()

    assert held.original.content == report_of(unlucky, "a held sea")
    assert c.channel_posts("interrupted") == []  # the running one only, in its own answer
    assert [len(c.edits_of_original(it, "interrupted")) for it in (first, second)] == [0, 0]
    assert [(r.status, r.json.get("content")) for r in c.edits_of_original(first, GOES_ON)] == [
        (200, GOES_ON)
    ]
    # Expired: the edit was tried and refused, so the channel alone tells.
    assert [r.status for r in c.edits_of_original(second, GOES_ON)] == [401]
    # Oldest first: the first image the gateway made went to the first kite.
    results = [r for r in c.channel_posts("kite") if r.files]
    assert [("first kite" in r.json["content"], r.files[0].data) for r in results] == [
        (True, FIRST),
        (False, SECOND),
    ]
    assert results[0].json["content"].startswith(f"<@{early['user']['id']}>")
    assert results[1].json["content"].startswith(f"<@{late['user']['id']}>")
    assert jobs == [
        ("imagine", "a", "interrupted"),
        ("imagine", "survivor", "done"),
        ("imagine", "survivor", "done"),
    ]
    assert no_tracebacks(survivor) == []
