"""The in-process limiter and caches (no Discord needed)."""

from __future__ import annotations

import asyncio

import pytest

from bot.errors import LimitReached
from bot.runtime import Runtime


async def test_user_limit_answers_busy_instead_of_queueing() -> None:
    rt = Runtime()
    async with rt.slot(user_id=1, guild_id=10, user_limit=2, guild_limit=10):
        async with rt.slot(user_id=1, guild_id=10, user_limit=2, guild_limit=10):
            with pytest.raises(LimitReached, match="You already have 2 images generating"):
                async with rt.slot(user_id=1, guild_id=10, user_limit=2, guild_limit=10):
                    pass
            # someone else in the same server is not held by this member's limit
            async with rt.slot(user_id=2, guild_id=10, user_limit=2, guild_limit=10):
                assert rt.in_flight(guild_id=10) == 3
    assert rt.in_flight(user_id=1) == 0 and rt.in_flight(guild_id=10) == 0


async def test_guild_limit_and_release_after_error() -> None:
    rt = Runtime()
    with pytest.raises(RuntimeError):
        async with rt.slot(user_id=1, guild_id=10, user_limit=2, guild_limit=1):
            raise RuntimeError("job failed")
    async with rt.slot(user_id=1, guild_id=10, user_limit=2, guild_limit=1):
        with pytest.raises(LimitReached, match="This server already has 1 image generating"):
            rt.acquire(user_id=2, guild_id=10, user_limit=2, guild_limit=1)
    assert rt.in_flight() == 0


async def test_model_cache_loads_once_per_ttl() -> None:
    rt = Runtime(model_cache_ttl=60)
    calls = []

    async def load() -> list[str]:
        calls.append(1)
        return ["a", "b"]

    assert await rt.models("gw", load) == ["a", "b"]
    assert await rt.models("gw", load) == ["a", "b"]
    assert len(calls) == 1
    expired = Runtime(model_cache_ttl=0)
    await expired.models("gw", load)
    await expired.models("gw", load)
    assert len(calls) == 3


def test_channel_locks_are_per_channel() -> None:
    rt = Runtime()
    assert rt.channel_lock(1) is rt.channel_lock(1)
    assert rt.channel_lock(1) is not rt.channel_lock(2)


async def test_channel_locks_are_shared_while_used_and_dropped_after() -> None:
    rt = Runtime()
    for channel_id in range(100):
        lock = rt.channel_lock(channel_id)
        async with lock:
            assert rt.channel_lock(channel_id) is lock
        del lock
    assert len(rt._channel_locks) == 0

    held = rt.channel_lock(7)
    await held.acquire()
    waiter = asyncio.ensure_future(_take(rt, 7))
    await asyncio.sleep(0)  # let the waiter queue on the very same lock
    assert not waiter.done() and rt.channel_lock(7) is held
    held.release()
    await waiter
    del held, waiter
    assert len(rt._channel_locks) == 0


async def _take(rt: Runtime, channel_id: int) -> None:
    async with rt.channel_lock(channel_id):
        pass
