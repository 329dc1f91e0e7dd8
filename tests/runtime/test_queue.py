"""The shared line on PostgreSQL: jobs over the in-flight limits wait across processes."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.errors import LimitReached
from bot.runtime.base import Ticket
from bot.storage.base import Store
from tests.runtime.conftest import OpenProcess

GUILD = 10
ONE: dict[str, Any] = {"user_id": 1, "guild_id": GUILD, "user_limit": 1, "guild_limit": 9}


async def _places_until(ticket: Ticket, seen: list[int], place: int) -> None:
    while ticket.place != place:  # noqa: ASYNC110 (moved by the ticket's own polls)
        await asyncio.sleep(0.02)
    assert seen[-1] == place


def _waiting(ticket: Ticket) -> tuple[asyncio.Task[None], list[int]]:
    seen: list[int] = []
    return asyncio.ensure_future(ticket.started(seen.append)), seen


async def test_a_slot_freed_on_one_process_starts_the_first_in_line_on_another(
    processes: OpenProcess, pg: Any
) -> None:
    a, b = await processes("a"), await processes("b")
    running = await a.admissions.enter(**ONE, queue_limit=5)
    first = await b.admissions.enter(**ONE, queue_limit=5)
    second = await a.admissions.enter(**ONE, queue_limit=5)
    assert (running.place, first.place, second.place) == (0, 1, 2)
    rows = await pg.fetch("SELECT owner FROM runtime_queue ORDER BY seq")
    assert [r["owner"] for r in rows] == [b.owner, a.owner]
    first_waits, first_seen = _waiting(first)
    second_waits, second_seen = _waiting(second)
    await asyncio.sleep(0.1)
    assert not first_waits.done() and (first_seen, second_seen) == ([1], [2])

    await running.leave()
    await asyncio.wait_for(first_waits, 30)
    assert first.place == 0 and first_seen == [1, 0]
    await asyncio.wait_for(_places_until(second, second_seen, 1), 30)
    assert not second_waits.done() and second_seen == [2, 1]
    assert await pg.fetchval("SELECT owner FROM runtime_slots") == b.owner

    await first.leave()
    await asyncio.wait_for(second_waits, 30)
    assert second_seen == [2, 1, 0]
    await second.leave()
    assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 0
    assert await pg.fetchval("SELECT count(*) FROM runtime_queue") == 0


async def test_a_full_line_refuses_with_the_sentence_of_one_process(
    processes: OpenProcess,
) -> None:
    a, b = await processes("a"), await processes("b")
    held = [
        await a.admissions.enter(**ONE, queue_limit=1),
        await b.admissions.enter(**ONE, queue_limit=1),
    ]
    with pytest.raises(LimitReached) as refused:
        await b.admissions.enter(**ONE, queue_limit=1)
    assert str(refused.value) == "You already have 1 image generating; wait for one to finish."
    server = {**ONE, "user_id": 2, "user_limit": 9, "guild_limit": 1}
    with pytest.raises(LimitReached) as refused:
        await a.admissions.enter(**server, queue_limit=1)
    assert str(refused.value) == (
        "This server already has 1 image generating; try again in a moment."
    )
    for ticket in held:
        await ticket.leave()


async def _job_row(store: Store, owner: str, n: int) -> int:
    job = await store.create_job(
        kind="imagine",
        guild_id=GUILD,
        channel_id=5,
        user_id=1,
        prompt=f"job {n}",
        params={},
        owner=owner,
    )
    return job.id


async def test_a_cancelled_job_leaves_the_line_and_the_one_behind_moves_up(
    processes: OpenProcess, store: Store, pg: Any
) -> None:
    a, b = await processes("a"), await processes("b")
    running = await a.admissions.enter(**ONE, queue_limit=5)
    doomed = await b.admissions.enter(**ONE, queue_limit=5)
    job_id = await _job_row(store, b.owner, 1)
    await doomed.attach(job_id)
    behind = await a.admissions.enter(**ONE, queue_limit=5)
    behind_waits, behind_seen = _waiting(behind)

    async def wait_watched() -> None:
        async with b.cancels.watch(job_id):
            await doomed.started()

    doomed_waits = asyncio.ensure_future(wait_watched())
    await asyncio.sleep(0.1)
    assert await a.cancels.request(job_id, by=7)  # pressed on the other process
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(doomed_waits, 30)
    await asyncio.wait_for(_places_until(behind, behind_seen, 1), 30)
    assert [r["owner"] for r in await pg.fetch("SELECT owner FROM runtime_queue")] == [a.owner]
    await running.leave()
    await asyncio.wait_for(behind_waits, 30)
    await doomed.leave()
    await behind.leave()


async def test_a_dead_process_holds_no_place_and_the_reaper_removes_its_rows(
    processes: OpenProcess, pg: Any
) -> None:
    a = await processes("a")
    stuck = await processes("stuck", heartbeat=3600)  # its heartbeat never lands again
    running = await a.admissions.enter(**ONE, queue_limit=5)
    await stuck.admissions.enter(**ONE, queue_limit=5)
    behind = await a.admissions.enter(**ONE, queue_limit=5)
    assert behind.place == 2
    behind_waits, behind_seen = _waiting(behind)
    await asyncio.wait_for(_places_until(behind, behind_seen, 1), 30)  # its lease ran out

    async def nothing(jobs: Any) -> None:
        return None

    a.presence.recover(nothing)

    async def reaped() -> None:
        sql = "SELECT count(*) FROM runtime_queue WHERE owner = $1"
        while await pg.fetchval(sql, stuck.owner):  # noqa: ASYNC110 (another process's table)
            await asyncio.sleep(0.05)

    await asyncio.wait_for(reaped(), 30)
    await running.leave()
    await asyncio.wait_for(behind_waits, 30)
    assert behind_seen == [2, 1, 0]
    await behind.leave()


async def test_fifty_entries_at_once_start_two_and_the_rest_in_strict_order(
    processes: OpenProcess, pg: Any
) -> None:
    one = await processes("one")  # 50 entries at once on a pool of 10 connections
    kwargs: dict[str, Any] = {"guild_id": GUILD, "user_limit": 9, "guild_limit": 2}
    entries = (one.admissions.enter(user_id=u, **kwargs, queue_limit=50) for u in range(50))
    tickets = await asyncio.wait_for(asyncio.gather(*entries), 60)
    running = [t for t in tickets if t.place == 0]
    assert len(running) == 2
    line = sorted((t for t in tickets if t.place), key=lambda t: t.place)
    assert [t.place for t in line] == list(range(1, 49))
    started: list[Ticket] = []

    async def wait(ticket: Ticket) -> None:
        await ticket.started()
        started.append(ticket)

    waits = [asyncio.ensure_future(wait(t)) for t in line]

    async def until_started(n: int) -> None:
        while len(started) < n:  # noqa: ASYNC110 (48 waiters, one list)
            await asyncio.sleep(0.01)

    for n, expected in enumerate(line, 1):
        await running.pop(0).leave()
        await asyncio.wait_for(until_started(n), 30)
        assert started[-1] is expected  # the first in line, and only it
        running.append(expected)
        assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 2
    await asyncio.gather(*waits)
    for ticket in running:
        await ticket.leave()
    assert await pg.fetchval("SELECT count(*) FROM runtime_queue") == 0
