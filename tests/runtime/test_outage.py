"""The runtime while PostgreSQL is out of reach: every background loop says so once, and
once more when it works again; admissions refuse in a sentence (a real server)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import pytest

from bot.runtime.postgres import runtime_on_store
from bot.storage import StorageUnavailable, open_store
from bot.storage.base import JobRecord
from tests.runtime.conftest import TEST_LEASE
from tests.storage.postgres.roles import PASSWORD, let_in, own_role, shut_out


async def _nothing(jobs: Sequence[JobRecord]) -> None:
    raise AssertionError(f"nobody died, yet {list(jobs)} were reported")


async def _listener_failed(listener: Any, times: int) -> None:
    while listener.failures < times:  # noqa: ASYNC110 (its reconnect loop's own counter)
        await asyncio.sleep(0.05)


async def _listening(listener: Any) -> None:
    while listener.failures:  # noqa: ASYNC110 (its reconnect loop's own counter)
        await asyncio.sleep(0.05)


async def test_background_loops_log_an_outage_once_and_its_end_once(
    pg_url: str, pg: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.runtime")
    async with own_role(pg, pg_url) as (role, url):
        own = await open_store(url)
        # Beats and reaper rounds by hand below: the loops' own are far apart.
        runtime = await runtime_on_store(own, instance_name="cut", lease=TEST_LEASE, heartbeat=3600)
        presence: Any = runtime.presence
        try:
            await shut_out(pg, role)
            for _ in range(3):
                await presence.beat()
                await presence.reap_round(_nothing)
            await asyncio.wait_for(_listener_failed(presence._listener, 3), 60)
            with pytest.raises(StorageUnavailable) as refused:
                await runtime.admissions.acquire(user_id=1, guild_id=2, user_limit=1, guild_limit=1)
            assert str(refused.value) == (
                "The bot's database is not answering; try again in a moment."
            )

            await let_in(pg, role)
            await presence.beat()
            await presence.reap_round(_nothing)
            await asyncio.wait_for(_listening(presence._listener), 60)
            assert runtime.owner == presence.owner and not presence.lost  # nobody took over
        finally:
            await runtime.close()
            await own.close()
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.runtime"]
    warnings = [m for level, m in lines if level == "WARNING"]
    infos = [m for level, m in lines if level == "INFO"]
    assert len(warnings) == 3, lines  # heartbeat, reaper, listener: once each
    assert any(
        m.startswith("heartbeat failed (The bot's database is not answering") for m in warnings
    )
    assert any(m.startswith("cannot look for processes that stopped (") for m in warnings)
    assert any(m.startswith("cannot listen for PostgreSQL notifications (") for m in warnings)
    assert "heartbeat landed again" in infos
    assert "looking for processes that stopped again" in infos
    assert "listening for PostgreSQL notifications again" in infos
    assert not any("Error" in m or PASSWORD in m for _, m in lines)


async def test_a_release_the_database_missed_does_not_fail_the_job_and_is_retried(
    pg_url: str, pg: Any
) -> None:
    async with own_role(pg, pg_url) as (role, url):
        own = await open_store(url)
        runtime = await runtime_on_store(own, instance_name="cut", lease=600, heartbeat=3600)
        presence: Any = runtime.presence
        try:
            slot = await runtime.admissions.acquire(
                user_id=1, guild_id=2, user_limit=1, guild_limit=1
            )
            await shut_out(pg, role)
            # The job's result is out by now: the failed release must not raise into it.
            await runtime.admissions.release(slot)
            assert runtime.admissions.in_flight() == 0
            assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 1
            await let_in(pg, role)
            await presence.beat()  # the retry rides on the next heartbeat
            assert await pg.fetchval("SELECT count(*) FROM runtime_slots") == 0
        finally:
            await runtime.close()
            await own.close()
