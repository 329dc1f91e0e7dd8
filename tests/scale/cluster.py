"""Several real ``python -m bot`` processes on one PostgreSQL, one fake Discord, one gateway.

    async with cluster(tmp_path, postgres_url, guilds=[g0, g1]) as c:
        async with c.process("a", SHARD_COUNT="2", SHARD_IDS="0") as a, c.process(...) as b:
            await c.ready(a, b)
            ...

Each process gets INSTANCE_NAME=its name (so a job's owner says which process ran it),
global commands (no DEV_GUILD_ID: every server has them) and its own working folder.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fakes.discord import FakeDiscord
from tests.fakes.discord_records import InteractionState, RecordedRequest
from tests.fakes.gateway import FakeGateway
from tests.harness import final_answer
from tests.processes import GATEWAY_KEY, TOKEN, BotProcess, bot_environment, bot_process

Payload = dict[str, Any]
READY = r"logged in as"
# Hang guards only: nothing asserts on how long anything took.
PATIENCE = 60.0


@dataclass
class Cluster:
    fake: FakeDiscord
    gw: FakeGateway
    tmp_path: Path
    database_url: str

    def env(self, name: str, **overrides: str) -> dict[str, str]:
        return bot_environment(
            self.fake,
            self.gw,
            self.tmp_path,
            DATABASE_URL=self.database_url,
            INSTANCE_NAME=name,
            DEV_GUILD_ID="",
            LOG_LEVEL="INFO",
            **overrides,
        )

    def process(
        self, name: str, **overrides: str
    ) -> contextlib.AbstractAsyncContextManager[BotProcess]:
        cwd = self.tmp_path / name
        cwd.mkdir(exist_ok=True)
        return bot_process(self.env(name, **overrides), cwd, name=name)

    async def ready(self, *processes: BotProcess) -> None:
        await asyncio.gather(*(p.wait_for_line(READY, timeout=PATIENCE) for p in processes))

    async def result(
        self, it: InteractionState, until: Callable[[InteractionState], bool] | None = None
    ) -> InteractionState:
        return await self.fake.interaction_result(it, until or final_answer, timeout=PATIENCE)

    async def until_count(self, sql: str, done: Callable[[int], bool]) -> None:
        """Until ``done(count)`` holds for the count ``sql`` selects (the database polled)."""
        import asyncpg

        conn = await asyncpg.connect(self.database_url)
        try:
            async with asyncio.timeout(PATIENCE):
                while not done(await conn.fetchval(sql)):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        finally:
            await conn.close()

    async def slots_released(self) -> None:
        """Until no process holds an admission slot: a slot goes just after its answer."""
        await self.until_count("SELECT count(*) FROM runtime_slots", lambda n: n == 0)

    async def jobs(self) -> list[tuple[str, str, str]]:
        """Every job row in order: its kind, the name of the process owning it, its state."""
        import asyncpg

        conn = await asyncpg.connect(self.database_url)
        try:
            rows = await conn.fetch("SELECT kind, owner, state FROM jobs ORDER BY id")
        finally:
            await conn.close()
        return [(r["kind"], r["owner"].split(":")[0], r["state"]) for r in rows]

    def edits_of_original(self, it: InteractionState, word: str) -> list[RecordedRequest]:
        """The PATCHes of the interaction's first answer whose content has ``word``."""
        return [
            r
            for r in self.fake.requests
            if r.method == "PATCH"
            and r.path.endswith(f"/{it.token}/messages/@original")
            and word in ((r.json or {}).get("content") or "")
        ]

    def channel_posts(self, word: str) -> list[RecordedRequest]:
        return [
            r
            for r in self.fake.requests
            if r.method == "POST"
            and r.path.startswith("/channels/")
            and r.path.endswith("/messages")
            and word in ((r.json or {}).get("content") or "")
        ]


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, database_url: str, *, guilds: Sequence[Payload], **fake_options: Any
) -> AsyncIterator[Cluster]:
    async with (
        FakeDiscord.running(token=TOKEN, guilds=list(guilds), **fake_options) as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
    ):
        yield Cluster(fake, gw, tmp_path, database_url)


def no_tracebacks(*processes: BotProcess) -> list[str]:
    return [f"{p.name}: {line}" for p in processes for line in p.lines if "Traceback" in line]
