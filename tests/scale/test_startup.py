"""Three processes starting together: commands synced once, IDENTIFY paced across them.

Discord's real pacing here (``max_concurrency`` 1: one IDENTIFY per 5 s for the whole
application), so this test takes about 11 s: the price of checking the real rule.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from tests.fakes import discord_payloads as p
from tests.scale.cluster import cluster, no_tracebacks


async def test_processes_starting_together_sync_once_and_identify_in_turn(
    tmp_path: Path, postgres_url: str
) -> None:
    guilds = [p.guild(f"S{n}", id=p.snowflake_on_shard(n, 3)) for n in range(3)]
    async with cluster(tmp_path, postgres_url, guilds=guilds, max_concurrency=1) as c:
        fake = c.fake
        shards = {"SHARD_COUNT": "3"}
        async with (
            c.process("a", SHARD_IDS="0", **shards) as a,
            c.process("b", SHARD_IDS="1", **shards) as b,
            c.process("c", SHARD_IDS="2", **shards) as third,
        ):
            await c.ready(a, b, third)
            for stopping in (a, b, third):
                assert await stopping.stop() == 0

    puts = [r for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert [r.path for r in puts] == [f"/applications/{fake.application_id}/commands"]
    assert {cmd["name"] for cmd in fake.global_commands} >= {"imagine", "edit", "settings"}
    synced = [
        p.name
        for p in (a, b, third)
        if any("synced" in x and "unchanged" not in x for x in p.lines)
    ]
    unchanged = [p.name for p in (a, b, third) if any("commands unchanged" in x for x in p.lines)]
    assert len(synced) == 1 and sorted(synced + unchanged) == ["a", "b", "c"]
    assert sorted(r.shard_id for r in fake.identify_log) == [0, 1, 2]
    gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(fake.identify_log)]
    print(f"\nIDENTIFY gaps: {[round(g, 2) for g in gaps]} s")
    assert all(gap >= fake.identify_interval for gap in gaps)
    assert fake.violations == []
    assert no_tracebacks(a, b, third) == []
