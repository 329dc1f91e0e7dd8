"""Chains: the protocol's tests on every implementation, and order across processes."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from bot.runtime.base import Chains
from bot.runtime.local import LocalChains
from tests.runtime.conftest import OpenProcess


@dataclass
class Under:
    chains: Chains
    idle: Callable[[], Awaitable[bool]]  # no channel holds a place any more


@pytest.fixture
async def local_chains() -> Under:
    local = LocalChains()

    async def forgotten() -> bool:
        return len(local) == 0

    return Under(local, forgotten)


@pytest.fixture
async def postgres_chains(processes: OpenProcess, pg: Any) -> Under:
    runtime = await processes("solo")

    async def no_rows() -> bool:
        await runtime.chains.settled()
        return await pg.fetchval("SELECT count(*) FROM runtime_places") == 0

    return Under(runtime.chains, no_rows)


@pytest.fixture(params=["local", "postgres"])
def under(request: pytest.FixtureRequest) -> Under:
    under: Under = request.getfixturevalue(f"{request.param}_chains")
    return under


def _writer(log: list[str], name: str) -> Any:
    async def write() -> None:
        log.append(name)

    return write


async def test_chains_record_turns_in_the_order_the_jobs_came_in(under: Under) -> None:
    chains, written = under.chains, []
    first, second, third = [await chains.take(1) for _ in range(3)]
    other = await chains.take(2)

    await third.record(_writer(written, "third"))  # ready first: written after the others
    await other.record(_writer(written, "other"))  # another channel: not held at all
    await first.record(_writer(written, "first"))
    assert written == ["other", "first"]
    await second.record(_writer(written, "second"))
    await chains.settled()

    assert written == ["other", "first", "second", "third"]
    for place in (first, second, third, other):
        place.close()
    assert await under.idle()  # a channel is forgotten once nothing in it holds another


async def test_the_latest_waits_for_the_places_ahead_and_no_longer(under: Under) -> None:
    chains, written = under.chains, []
    slow = await chains.take(1, new_chain=True)  # an /imagine that takes its time
    fast = await chains.take(1, new_chain=True)  # a second /imagine
    edit = await chains.take(1, reads=True)  # an /edit of the latest image
    assert await edit.waiting()
    waiting = asyncio.ensure_future(edit.latest())

    await fast.record(_writer(written, "fast"))  # replaces the chain: slow cannot change it
    await asyncio.wait_for(waiting, 30)
    assert not await edit.waiting()
    edit.read()
    await slow.record(_writer(written, "slow"))
    await chains.settled()

    assert written == ["fast"]  # the earlier /imagine's turn is not the chain's
    for place in (slow, fast, edit):
        place.close()
    assert await under.idle()


async def test_a_new_chain_waits_for_a_job_ahead_that_has_yet_to_read_it(under: Under) -> None:
    chains, written = under.chains, []
    running = await chains.take(1)
    edit = await chains.take(1, reads=True)
    imagine = await chains.take(1, new_chain=True)

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
    assert await under.idle()


async def test_a_place_that_records_nothing_lets_the_ones_behind_go(under: Under) -> None:
    chains, written = under.chains, []
    failed, after = await chains.take(1), await chains.take(1, reads=True)
    assert await after.waiting()
    failed.close()
    await asyncio.wait_for(after.latest(), 30)
    saving: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    after.close(after=saving)  # still storing: the place stays until the store is done
    await after.record(_writer(written, "after"))
    saving.set_result(None)
    await chains.settled()
    assert written == ["after"] and await under.idle()


# -- across processes ---------------------------------------------------------------


async def test_edits_in_one_channel_run_one_at_a_time_in_arrival_order_across_processes(
    processes: OpenProcess, pg: Any
) -> None:
    """The issue's minimum: whichever process received them, one at a time, in order."""
    runtimes = [await processes(f"p{i}") for i in range(3)]
    arrived: list[int] = []
    ran: list[int] = []
    running = 0
    overlaps = 0

    async def edit(n: int, place: Any) -> None:
        nonlocal running, overlaps
        await place.latest()  # an /edit of the latest image waits for those ahead
        running += 1
        overlaps += running > 1
        place.read()
        await asyncio.sleep(random.uniform(0, 0.02))  # the gateway call
        ran.append(n)
        running -= 1

        async def turn() -> None:
            pass

        await place.record(turn)
        place.close()

    jobs = []
    for n in range(15):
        place = await runtimes[n % 3].chains.take(7, reads=True)  # arrival = take order
        arrived.append(n)
        jobs.append(asyncio.ensure_future(edit(n, place)))
    await asyncio.wait_for(asyncio.gather(*jobs), 60)
    for runtime in runtimes:
        await runtime.chains.settled()

    assert ran == arrived
    assert overlaps == 0
    assert await pg.fetchval("SELECT count(*) FROM runtime_places") == 0


async def test_turns_from_several_processes_are_written_in_submission_order(
    processes: OpenProcess,
) -> None:
    runtimes = [await processes(f"p{i}") for i in range(3)]
    places = [await runtimes[n % 3].chains.take(5) for n in range(9)]
    written: list[str] = []
    order = list(range(9))
    random.Random(14).shuffle(order)  # finished in any order
    for n in order:
        await places[n].record(_writer(written, str(n)))
    for runtime in runtimes:
        await runtime.chains.settled()
    assert written == [str(n) for n in range(9)]
    for place in places:
        place.close()


async def test_a_dead_process_place_stops_holding_the_others(
    processes: OpenProcess, pg: Any
) -> None:
    # Never heartbeats after it starts: dead once the lease runs out, and never closed.
    dead = await processes("dead", heartbeat=3600)
    alive = await processes("alive")
    await dead.chains.take(3)  # a job that will never record its turn
    edit = await alive.chains.take(3, reads=True)
    assert await edit.waiting()
    await asyncio.wait_for(edit.latest(), 30)  # the lease ran out: nothing holds it
    edit.close()
