"""Housekeeping every front end runs the same way: key rotation, job expiry, interrupted jobs."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.runtime import MAINTENANCE_LEASE, Leases
from bot.storage.base import JobRecord, Store

if TYPE_CHECKING:
    from bot.secrets import KeyBox

log = logging.getLogger(__name__)

DAY_SECONDS = 86400
EXPIRE_INTERVAL_SECONDS = 3600.0
# At most this many waiting jobs go on after a restart (list_jobs's page; the queue caps below).
QUEUED_SCAN = 100


async def rotate_gateway_keys(store: Store, keybox: KeyBox) -> None:
    """Re-encrypt every stored server key with SECRET_KEY, so the previous one can go."""

    unreadable = 0

    def rotate(token: bytes) -> bytes | None:
        nonlocal unreadable
        try:
            return keybox.rotate(token)
        except ConfigError:
            unreadable += 1  # made with neither key: its server's admin must enter it again
            return None

    rotated = await store.rotate_gateway_keys(rotate)
    log.info(
        "re-encrypted %d server API keys with SECRET_KEY; SECRET_KEY_PREVIOUS can be removed",
        rotated,
    )
    if unreadable:
        log.warning(
            "%d server API keys were made with neither SECRET_KEY nor SECRET_KEY_PREVIOUS; "
            "those servers' admins must enter theirs again with /settings gateway",
            unreadable,
        )


async def expire_jobs(store: Store, retention_days: float, leases: Leases | None = None) -> None:
    """Forever, hourly: remove finished jobs older than the retention (and their images).

    With ``leases``, only the process holding the maintenance lease does it; another
    takes over within a round or two once it is gone.
    """
    while True:
        try:
            lease = EXPIRE_INTERVAL_SECONDS * 1.5
            if leases is None or await leases.holds(MAINTENANCE_LEASE, ttl=lease):
                cutoff = time.time() - retention_days * DAY_SECONDS
                removed = await store.delete_jobs_before(cutoff)
                if removed:
                    log.info("removed %d jobs older than %g days", removed, retention_days)
        except Exception:  # a busy or broken database: try again next round
            log.exception("could not remove old jobs")
        await asyncio.sleep(EXPIRE_INTERVAL_SECONDS)


async def interrupted_jobs(store: Store, owner: str) -> list[JobRecord]:
    """This process's jobs a previous run left running, now marked interrupted."""
    return list(await store.interrupt_running_jobs(owner))


async def queued_jobs(store: Store, owner: str) -> list[JobRecord]:
    """This process's jobs a previous run left waiting in line: they go on (resume)."""
    jobs = await store.list_jobs(states=("queued",), limit=QUEUED_SCAN)
    return [job for job in jobs if job.owner == owner]
