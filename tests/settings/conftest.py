"""The real bot from ``open_bot``, connected to the loopback fake Discord, on a temp SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.config import BotSettings, ImageSettings
from bot.discord_bot.app import ImageBot
from bot.storage.base import GuildSettings
from bot.workers import CpuPool
from tests.fakes.discord import FakeDiscord, InteractionState, redirect_discord
from tests.fakes.gateway import FakeGateway
from tests.harness import connected_bot

SECRET_KEY = "settings-tests-secret-key-0123456789"
OPERATOR_KEY = "operator-default-key-5678"
FLAG_EPHEMERAL = 64


@dataclass
class Harness:
    fake: FakeDiscord
    gateway: FakeGateway
    bot: ImageBot
    admin: dict[str, Any]
    member: dict[str, Any]

    @property
    def guild_id(self) -> int:
        return int(self.fake.guild["id"])

    async def settings(self) -> GuildSettings:
        return await self.bot.store.get_settings(self.guild_id)

    async def run(
        self,
        command: str,
        options: dict[str, Any] | None = None,
        *,
        member: dict[str, Any] | None = None,
        channel: dict[str, Any] | None = None,
    ) -> InteractionState:
        """`/settings <command>` as the admin (by default); returns once the user sees an answer."""
        it = await self.fake.slash(
            f"settings {command}", options or {}, member=member or self.admin, channel=channel
        )
        return await self.fake.interaction_result(it)


def answer_text(state: InteractionState) -> str:
    """Everything the user was shown: the callback's content and embeds, or the follow-ups."""
    msg = state.last_message
    if msg is not None:
        parts = [msg.content] + [repr(e) for e in msg.embeds]
    else:
        data = (state.callback.json or {}).get("data") or {} if state.callback else {}
        parts = [data.get("content") or ""] + [repr(e) for e in data.get("embeds", [])]
    return "\n".join(parts)


def is_ephemeral(state: InteractionState) -> bool:
    msg = state.last_message
    if msg is not None:
        return msg.ephemeral
    assert state.callback is not None
    data = (state.callback.json or {}).get("data") or {}
    return bool(data.get("flags", 0) & FLAG_EPHEMERAL)


async def open_harness(tmp_path: Path, *, allow_private: bool = False) -> AsyncIterator[Harness]:
    async with FakeDiscord.running() as fake, FakeGateway() as gateway:
        with redirect_discord(fake):
            image = ImageSettings(
                base_url=gateway.base_url,
                api_key=OPERATOR_KEY,
                dialect="openrouter",
                allow_private_gateways=allow_private,
            )
            settings = BotSettings(
                token=fake.token,
                secret_key=SECRET_KEY,
                api_base=fake.api_base,
                gateway_url=fake.gateway_url,
                database_url=f"sqlite:///{tmp_path / 'bot.db'}",
                image=image,
            )
            # /settings never needs the worker processes; a thread keeps start-up fast.
            async with CpuPool(inline=True) as cpu, connected_bot(settings, cpu) as bot:
                admin = await fake.member(discord.Permissions(manage_guild=True), name="admin")
                member = await fake.member(name="member")
                yield Harness(fake, gateway, bot, admin, member)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    async for h in open_harness(tmp_path):
        yield h


@pytest.fixture
async def private_harness(tmp_path: Path) -> AsyncIterator[Harness]:
    """The operator allows private per-server gateways (the fake gateway is on 127.0.0.1)."""
    async for h in open_harness(tmp_path, allow_private=True):
        yield h
