"""Real ``python -m bot`` processes against the fakes, configured only by environment.

    env = bot_environment(fake, gw, tmp_path, SHARD_COUNT="2", SHARD_IDS="1")
    async with bot_process(env, tmp_path / "one", name="one") as one:
        await one.wait_for_line(r"logged in as")
        ...
        assert await one.stop() == 0

Each process runs in its own process group (its CPU workers too), its stderr is read as
it comes (a full pipe would stall a chatty process) and kept in ``lines``, and leaving
the block stops what is still running: SIGINT, then SIGKILL of the group.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway

GATEWAY_KEY = "sk-process-test-gateway-key-42"
SECRET_KEY = "process-test-secret-key-0123456789"
TOKEN = "process-test-discord-token.XYZ"


def bot_environment(
    fake: FakeDiscord, gw: FakeGateway, tmp_path: Path, **overrides: str
) -> dict[str, str]:
    """This process's environment without the operator's settings, plus the fakes' addresses.

    The database is ``tmp_path/bot.db`` and DEV_GUILD_ID the fake's first server unless
    ``overrides`` (e.g. ``DATABASE_URL``, ``SHARD_COUNT``, ``SHARD_IDS``) say otherwise.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMAGE_", "DISCORD_", "DEV_GUILD", "SHARD_")) and key != "LOG_LEVEL"
    }
    env.update(
        IMAGINE_ENV_FILE=str(tmp_path / "absent.env"),
        DISCORD_TOKEN=TOKEN,
        DISCORD_API_BASE=fake.api_base,
        DISCORD_GATEWAY_URL=fake.gateway_url,
        DEV_GUILD_ID=str(fake.guild["id"]),
        IMAGE_API_BASE_URL=gw.base_url,
        IMAGE_API_KEY=GATEWAY_KEY,
        IMAGE_API_DIALECT="openrouter",
        SECRET_KEY=SECRET_KEY,
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
        LOG_LEVEL="DEBUG",
    )
    env.update(overrides)
    return env


async def start_bot(env: Mapping[str, str], cwd: Path) -> asyncio.subprocess.Process:
    """``python -m bot`` in ``cwd`` with exactly ``env``; stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=cwd,
        env=dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        # Lines up to 16 MiB: at DEBUG the command sync's payload is one line of ~200 KB
        # (every language's names), over asyncio's 64 KiB default, which would end the
        # reader and leave the bot blocked on a full pipe.
        limit=1 << 24,
        # Its own group, so a failed test can kill its worker processes too: they hold
        # stderr open, and asyncio waits for every pipe to close.
        start_new_session=True,
    )


def kill_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process and its workers, if it is still running."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


@dataclass
class BotProcess:
    """One running ``python -m bot``; ``lines`` is its stderr so far."""

    name: str
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _grew: asyncio.Condition = field(default_factory=asyncio.Condition)
    _readers: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.process.stderr is not None and self.process.stdout is not None
        self._readers = [
            asyncio.create_task(self._read(self.process.stderr, keep=True)),
            asyncio.create_task(self._read(self.process.stdout, keep=False)),
        ]

    async def _read(self, stream: asyncio.StreamReader, *, keep: bool) -> None:
        while raw := await stream.readline():
            if keep:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
            async with self._grew:
                self._grew.notify_all()
        async with self._grew:
            self._grew.notify_all()

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def wait_for_line(self, pattern: str, *, timeout: float = 60.0) -> str:  # noqa: ASYNC109
        """The first stderr line matching ``pattern`` (a regex), waiting for it if need be."""

        def found() -> str | None:
            return next((line for line in self.lines if re.search(pattern, line)), None)

        def ended() -> bool:
            return all(reader.done() for reader in self._readers)

        async with self._grew:
            try:
                async with asyncio.timeout(timeout):
                    await self._grew.wait_for(lambda: found() is not None or ended())
            except TimeoutError:
                pass
        line = found()
        if line is None:
            tail = "\n".join(self.lines[-20:])
            raise AssertionError(f"{self.name}: no line matching {pattern!r}; last lines:\n{tail}")
        return line

    async def stop(self, signum: int = signal.SIGINT, *, timeout: float = 30.0) -> int:  # noqa: ASYNC109
        """Send ``signum`` and wait for the exit (SIGKILL of the group after ``timeout``)."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*self._readers)
                return await self.process.wait()
        finally:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the process group at once (a crash, or cleaning up after a failure).

        Also once the process has exited: a worker left behind would hold the pipes open.
        """
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


@contextlib.asynccontextmanager
async def bot_process(
    env: Mapping[str, str], cwd: Path, *, name: str = "bot"
) -> AsyncIterator[BotProcess]:
    """Start ``python -m bot`` in ``cwd`` (an existing folder); stopped on leaving the block."""
    running = BotProcess(name, await start_bot(env, cwd))
    try:
        yield running
    finally:
        if running.returncode is None:
            await running.stop()
        running.kill()
        readers = running._readers  # noqa: SLF001
        # The last lines are still in the pipe when the process has just exited: read them.
        _, unfinished = await asyncio.wait(readers, timeout=10)
        for reader in unfinished:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await running.process.wait()
