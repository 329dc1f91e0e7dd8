"""The real bot (``open_bot``, what ``python -m bot`` runs) against both fakes.

The ``running_bot`` fixture (tests/conftest.py) yields a ``BotHarness``: the fake
Discord, the fake gateway and a connected ``ImageBot`` on a temporary SQLite database.
``harness.restart()`` closes the bot and opens a new one on the same database, as a
process restart would.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.config import BotSettings, ImageSettings, Sharding
from bot.discord_bot.app import ImageBot, open_bot
from bot.discord_bot.live_preview import PREVIEW_FILENAME
from bot.runtime import Runtime
from bot.workers import CpuPool
from tests.fakes.discord import (
    WAIT,
    FakeDiscord,
    InteractionState,
    StoredMessage,
    fast_bot_options,
    until_ready,
)
from tests.fakes.gateway import FakeGateway

GATEWAY_KEY = "sk-test-gateway-key-0123456789"
SECRET_KEY = "test-secret-key-for-the-keybox-0123"
PRO_MODEL = "gemini-3-pro-image-preview"


def make_settings(
    fake: FakeDiscord,
    gw: FakeGateway,
    db: Path,
    *,
    dialect: str = "auto",
    model: str = PRO_MODEL,
    sharding: Sharding | None = None,
) -> BotSettings:
    base = gw.google_base_url if dialect == "google" else gw.base_url
    return BotSettings(
        token=fake.token,
        secret_key=SECRET_KEY,
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        database_url=f"sqlite:///{db}",
        image=ImageSettings(
            base_url=base, api_key=GATEWAY_KEY, dialect=dialect, model=model, timeout=20
        ),
        sharding=sharding,
    )


@contextlib.asynccontextmanager
async def connected_bot(
    settings: BotSettings, cpu: CpuPool, *, runtime: Runtime | None = None
) -> AsyncIterator[ImageBot]:
    """open_bot + connect, returning once READY (every shard); always closed (else teardown
    hangs). ``runtime`` replaces the in-process one, e.g. to share a piece between bots."""
    async with open_bot(settings, cpu=cpu, runtime=runtime, **fast_bot_options()) as bot:
        async with until_ready(bot, bot.connect(reconnect=False), timeout=WAIT):
            yield bot


@dataclass
class BotHarness:
    fake: FakeDiscord
    gw: FakeGateway
    settings: BotSettings
    cpu: CpuPool
    bot: ImageBot | None = None
    _stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    async def start(self) -> ImageBot:
        self.bot = await self._stack.enter_async_context(connected_bot(self.settings, self.cpu))
        return self.bot

    async def stop(self) -> None:
        await self._stack.aclose()
        self._stack = contextlib.AsyncExitStack()
        self.bot = None

    async def restart(self, **changes: Any) -> ImageBot:
        await self.stop()
        if changes:
            self.settings = replace(self.settings, **changes)
        return await self.start()

    # conveniences -----------------------------------------------------------------------------
    @property
    def store(self) -> Any:
        assert self.bot is not None
        return self.bot.store

    @property
    def guild_id(self) -> int:
        return int(self.fake.guild["id"])

    async def result(
        self, it: InteractionState, wait: float = WAIT, *, stored: bool = True
    ) -> InteractionState:
        """The interaction once its final answer (not progress) is on screen.

        With ``stored=False``, as soon as a member could see it: the result's rows may
        still be being written.
        """

        st = await self.fake.interaction_result(it, final_answer, timeout=wait)
        if stored:
            await self.stored()
        return st

    async def channel_post(self, wait: float = WAIT) -> StoredMessage:
        """The next message the bot posted to a channel (not through an interaction)."""
        req = await self.fake.wait_for("POST /channels/*/messages", status=200, timeout=wait)
        await self.stored()
        return self.fake.messages[req.response["id"]]

    async def stored(self) -> None:
        """Results are posted while they are stored; tests that read the store wait here.

        Also for the turns written behind the jobs ahead of them in their channel.
        """
        if self.bot is not None:
            await self.bot.runtime.barrier.stored()
            await self.bot.runtime.chains.settled()


async def use_own_gateway(h: BotHarness, key: str, *, dialect: str = "openrouter") -> None:
    """The server sets its own gateway: the fake one (private addresses allowed) with ``key``."""
    await h.restart(image=replace(h.settings.image, allow_private_gateways=True))
    assert h.bot is not None and h.bot.keybox is not None
    await h.store.update_settings(
        h.guild_id,
        gateway_base_url=h.gw.base_url,
        gateway_dialect=dialect,
        gateway_key_encrypted=h.bot.keybox.encrypt(key),
    )


def final_answer(st: InteractionState) -> bool:
    """The interaction's final answer is on screen (not "thinking", not progress)."""
    if st.followups:
        return True
    return st.original is not None and final_message(st.original)


def final_message(msg: StoredMessage) -> bool:
    """A message the bot is done with: not "thinking", not a progress line."""
    return not msg.loading and (_result_files(msg) or not _progress(msg))


def _result_files(msg: StoredMessage) -> bool:
    """Files that are not a live preview on the progress message."""
    return any(a.get("filename") != PREVIEW_FILENAME for a in msg.attachments)


def _progress(msg: StoredMessage) -> bool:
    # A running job's message carries its Cancel button, in any language; the English
    # labels for a progress line shown before its first edit.
    return any(i.startswith("imagine:cancel:") for i in msg.custom_ids()) or msg.content.startswith(
        ("Generating…", "Editing", "Rerolling…", "Upscaling", "Varying", "Blending…")
    )
