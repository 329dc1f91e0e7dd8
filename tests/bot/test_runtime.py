"""The in-process runtime: limiter, chain order, model cache (no Discord needed)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.runtime.local import LocalAdmissions, LocalChains, LocalModelCache


@asynccontextmanager
async def _slot(rt: LocalAdmissions, **kwargs: Any) -> AsyncIterator[None]:
    rt.acquire(**kwargs)
    try:
        yield
    finally:
        rt.release(user_id=kwargs["user_id"], guild_id=kwargs["guild_id"])


async def test_user_limit_answers_busy_instead_of_queueing() -> None:
    rt = LocalAdmissions()
    async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
        async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
            with pytest.raises(LimitReached, match="You already have 2 images generating"):
                async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=10):
                    pass
            # someone else in the same server is not held by this member's limit
            async with _slot(rt, user_id=2, guild_id=10, user_limit=2, guild_limit=10):
                assert rt.in_flight(guild_id=10) == 3
    assert rt.in_flight(user_id=1) == 0 and rt.in_flight(guild_id=10) == 0


async def test_guild_limit_and_release_after_error() -> None:
    rt = LocalAdmissions()
    with pytest.raises(RuntimeError):
        async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=1):
            raise RuntimeError("job failed")
    async with _slot(rt, user_id=1, guild_id=10, user_limit=2, guild_limit=1):
        with pytest.raises(LimitReached, match="This server already has 1 image generating"):
            rt.acquire(user_id=2, guild_id=10, user_limit=2, guild_limit=1)
    assert rt.in_flight() == 0


async def test_model_cache_loads_once_per_ttl() -> None:
    rt = LocalModelCache(ttl=60)
    calls = []

    async def load() -> list[str]:
        calls.append(1)
        return ["a", "b"]

    assert await rt.models("gw", load) == ["a", "b"]
    assert await rt.models("gw", load) == ["a", "b"]
    assert len(calls) == 1
    expired = LocalModelCache(ttl=0)
    await expired.models("gw", load)
    await expired.models("gw", load)
    assert len(calls) == 3


def _writer(log: list[str], name: str) -> Any:
    async def write() -> None:
        log.append(name)

    return write


async def test_chains_record_turns_in_the_order_the_jobs_came_in() -> None:
    chains, written = LocalChains(), []
    first, second, third = (chains.take(1) for _ in range(3))
    other = chains.take(2)

    await third.record(_writer(written, "third"))  # ready first: written after the others
    await other.record(_writer(written, "other"))  # another channel: not held at all
    await first.record(_writer(written, "first"))
    assert written == ["other", "first"]
    await second.record(_writer(written, "second"))
    await chains.settled()

    assert written == ["other", "first", "second", "third"]
    for place in (first, second, third, other):
        place.close()
    assert len(chains) == 0  # a channel is forgotten once nothing in it holds another


async def test_the_latest_waits_for_the_places_ahead_and_no_longer() -> None:
    chains, written = LocalChains(), []
    slow = chains.take(1, new_chain=True)  # an /imagine that takes its time
    fast = chains.take(1, new_chain=True)  # a second /imagine
    edit = chains.take(1, reads=True)  # an /edit of the latest image
    assert edit.waiting()
    waiting = asyncio.ensure_future(edit.latest())

    await fast.record(_writer(written, "fast"))  # replaces the chain: slow cannot change it
    await asyncio.wait_for(waiting, 5)
    assert not edit.waiting()
    edit.read()
    await slow.record(_writer(written, "slow"))
    await chains.settled()

    assert written == ["fast"]  # the earlier /imagine's turn is not the chain's
    for place in (slow, fast, edit):
        place.close()
    assert len(chains) == 0


async def test_a_new_chain_waits_for_a_job_ahead_that_has_yet_to_read_it() -> None:
    chains, written = LocalChains(), []
    running = chains.take(1)
    edit = chains.take(1, reads=True)
    imagine = chains.take(1, new_chain=True)

    await imagine.record(_writer(written, "imagine"))  # the edit must see the old chain
    assert written == []
    edit.read()
    await chains.settled()
    assert written == ["imagine"]
    running.close()  # failed: held nothing back but the edit
    await edit.record(_writer(written, "edit"))
    await chains.settled()

    assert written == ["imagine"]  # the edit came in before the new chain
    edit.close()
    imagine.close()
    assert len(chains) == 0


async def test_a_place_that_records_nothing_lets_the_ones_behind_go() -> None:
    chains, written = LocalChains(), []
    failed, after = chains.take(1), chains.take(1, reads=True)
    assert after.waiting()
    failed.close()
    await asyncio.wait_for(after.latest(), 5)
    saving: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    after.close(after=saving)  # still storing: the place stays until the store is done
    await after.record(_writer(written, "after"))
    saving.set_result(None)
    await asyncio.sleep(0)
    assert written == ["after"] and len(chains) == 0
