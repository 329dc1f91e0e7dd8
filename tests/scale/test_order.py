"""A channel's edits stay in order when they reach different processes.

A rolling restart: process a serves the server, b starts for the same shard and takes
its events over while a's edit is still at the gateway. b's edit of "the latest image"
must wait for a's, and edit a's result: the order is the channel's, not a process's.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.fakes import discord_payloads as p
from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_records import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.scale.cluster import PATIENCE, cluster, no_tracebacks

WAITING = "Waiting for the images in progress in this channel"


def gw_out_seq(fake: FakeDiscord, it: InteractionState) -> int:
    """When the interaction's result (its images) reached Discord."""
    return next(r.seq for r in fake.requests if r.files and it.token in r.path)


def has_image(state: InteractionState) -> bool:
    return bool(state.original and state.original.files)


async def test_edits_of_one_channel_run_in_order_across_processes(
    tmp_path: Path, postgres_url: str
) -> None:
    g = p.guild("Studio")
    member = p.member(g, p.user("painter"))
    first, red, blue = (
        png_bytes(12, 12, colour) for colour in ((200, 200, 200), (255, 0, 0), (0, 0, 255))
    )
    async with cluster(tmp_path, postgres_url, guilds=[g]) as c:
        fake, gw = c.fake, c.gw
        async with c.process("a") as a:
            await c.ready(a)
            gw.script(Reply(body=images_response([first])))
            await c.result(await fake.slash("imagine", {"prompt": "a house"}, member=member))
            release = asyncio.Event()
            gw.script(Reply(body=images_response([red]), hold=release))
            by_a = await fake.slash("edit", {"prompt": "make it red"}, member=member)
            async with asyncio.timeout(PATIENCE):
                await gw.wait_for_requests(2)
            async with c.process("b") as b:
                await c.ready(b)  # b's session now gets the server's events, a's none
                gw.script(Reply(body=images_response([blue])))
                by_b = await fake.slash("edit", {"prompt": "now blue"}, member=member)
                # b's edit waits behind a's: two places in the channel's chain.
                await c.until_count("SELECT count(*) FROM runtime_places", lambda n: n >= 2)
                waiting = await fake.wait_until(
                    lambda: c.edits_of_original(by_b, WAITING), timeout=PATIENCE, what="b waiting"
                )
                release.set()
                after_a = await c.result(by_a, has_image)
                after_b = await c.result(by_b, has_image)
                assert await b.stop() == 0
            assert await a.stop() == 0
            jobs = await c.jobs()

    assert jobs == [("imagine", "a", "done"), ("edit", "a", "done"), ("edit", "b", "done")]
    assert [d for _, d in after_a.original.files] == [red]
    assert [d for _, d in after_b.original.files] == [blue]
    # b edited a's result, the channel's latest image once a's turn was written.
    assert gw.requests[1].images[-1] == first
    assert gw.requests[2].images[-1] == red
    # What the member saw meanwhile, from b, before a's edit was out.
    assert waiting[0].seq < gw_out_seq(fake, by_a)
    assert fake.violations == []
    assert no_tracebacks(a, b) == []
