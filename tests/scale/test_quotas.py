"""A server's hourly quota under a burst that two processes serve at once.

During a reshard Discord holds the old sessions and the new ones together: process a
still on one shard, process b on shard 1 of 2 already, so every event of a server on
shard 1 of 2 reaches both. Each interaction is acted on once (Discord acknowledges it
once; the database says which process has it), and the quota counts both processes' jobs.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.storage import open_store
from tests.fakes import discord_payloads as p
from tests.scale.cluster import cluster, no_tracebacks

QUOTA = 3
USED_UP = f"This server has used its {QUOTA} images for this hour. Try again later."


async def test_a_server_quota_holds_exactly_across_two_processes(
    tmp_path: Path, postgres_url: str
) -> None:
    g = p.guild("Busy", id=p.snowflake_on_shard(1, 2))
    members = [p.member(g, p.user(f"m{n}")) for n in range(8)]
    store = await open_store(postgres_url)
    try:
        await store.update_settings(int(g["id"]), guild_hourly=QUOTA)
    finally:
        await store.close()
    # Buckets 0 (a's shard 0 of 1) and 1 (b's shard 1 of 2): neither waits for the other.
    async with cluster(tmp_path, postgres_url, guilds=[g], max_concurrency=2) as c:
        fake = c.fake
        async with c.process("a") as a, c.process("b", SHARD_COUNT="2", SHARD_IDS="1") as b:
            await c.ready(a, b)
            assert len(fake.receivers(g["id"])) == 2
            burst = await asyncio.gather(
                *(
                    fake.slash("imagine", {"prompt": f"p{n}"}, member=m)
                    for n, m in enumerate(members)
                )
            )
            results = [await c.result(it) for it in burst]
            await c.slots_released()
            assert await a.stop() == 0 and await b.stop() == 0
        store = await open_store(postgres_url)
        try:
            jobs = [await store.get_job(n) for n in range(1, 20)]
        finally:
            await store.close()

    served = [r for r in results if r.original.files]
    refused = [r for r in results if not r.original.files]
    assert len(served) == QUOTA and len(c.gw.requests) == QUOTA
    assert [r.original.content for r in refused] == [USED_UP] * (len(members) - QUOTA)
    assert [j.state for j in jobs if j is not None] == ["done"] * QUOTA
    owners = {j.owner.split(":")[0] for j in jobs if j is not None}
    print(f"served by {sorted(owners)}")
    # Every interaction was answered once: no second acknowledgement, no second answer.
    callbacks = [r for r in fake.requests if r.path.startswith("/interactions/")]
    assert len(callbacks) == len(members) and all(r.status < 300 for r in callbacks)
    assert no_tracebacks(a, b) == []
