"""The composition root: every resource a front end needs, opened once, closed in order.

``open_services(settings)`` opens the HTTP client, the CPU pool, the store, the gateway
client, the key box and the runtime, and yields them as one typed ``Services``. The
Discord bot (``bot.discord_bot.app``), the CLI (``bot.cli``) and any later front end are
built on it; nothing below this opens a resource of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import httpx

from bot.config import BotSettings
from bot.gateway.client import GatewayClient
from bot.gateways import Gateways
from bot.maintenance import rotate_gateway_keys
from bot.operator_alerts import OperatorAlerts
from bot.runtime import Runtime, local_runtime
from bot.secrets import KeyBox
from bot.storage import open_store
from bot.storage.base import Store
from bot.transport import http_client
from bot.workers import CpuPool

# Discord CDN downloads and the gateway share one client; gateway calls set their own
# (longer) timeouts per request.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


@dataclass(frozen=True)
class Services:
    settings: BotSettings
    http: httpx.AsyncClient
    cpu: CpuPool
    store: Store
    gateway: GatewayClient
    # None without a SECRET_KEY (the CLI): no server's own gateway key can be read then.
    keybox: KeyBox | None
    runtime: Runtime
    gateways: Gateways
    # Warnings for the operator about the bot's own gateway, rate-limited per process;
    # None where the one reader already gets the error (the CLI).
    alerts: OperatorAlerts | None = None


async def _keybox(settings: BotSettings) -> KeyBox | None:
    if not settings.secret_key:
        return None
    previous = settings.previous_secret_key
    older = [previous] if previous and previous != settings.secret_key else []
    # scrypt is ~0.1 s and 32 MiB by design: not on the event loop.
    return await asyncio.to_thread(KeyBox, settings.secret_key, older)


async def _runtime(settings: BotSettings, store: Store) -> Runtime:
    """In process for SQLite; on the database, shared by every process, for PostgreSQL."""
    if getattr(store, "pool", None) is None:
        return local_runtime(counts=store, owner=settings.instance_name)
    from bot.runtime.postgres import runtime_on_store

    return await runtime_on_store(store, instance_name=settings.instance_name)


@asynccontextmanager
async def open_services(
    settings: BotSettings,
    *,
    cpu: CpuPool | None = None,
    runtime: Runtime | None = None,
    alerts: OperatorAlerts | None = None,
) -> AsyncIterator[Services]:
    """Every resource opened once; closed in reverse, the runtime's jobs stopped first.

    ``cpu`` lets a caller bring its own pool (a test suite shares one; the CLI runs
    inline); ``runtime`` another runtime implementation (by default in-process on
    SQLite, ``bot.runtime.postgres`` on a PostgreSQL store);
    ``alerts`` the operator's log warnings (the bot has them, the CLI does not).
    """
    from bot.gateway.warmup import warm_up_worker

    image = settings.image
    image.gateway()  # fail at start-up, not on the first job
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(http_client(timeout=HTTP_TIMEOUT))
        if cpu is None:
            cpu = await stack.enter_async_context(CpuPool(warm_up=warm_up_worker))
        store = await open_store(settings.database_url)
        stack.push_async_callback(store.close)
        gateway = GatewayClient.from_settings(http, cpu, image)
        keybox = await _keybox(settings)
        if keybox is not None and keybox.rotating:
            await rotate_gateway_keys(store, keybox)
        runtime = runtime or await _runtime(settings, store)
        # Before the store closes: jobs stop, and results being stored are waited for.
        stack.push_async_callback(runtime.close)
        yield Services(
            settings=settings,
            http=http,
            cpu=cpu,
            store=store,
            gateway=gateway,
            keybox=keybox,
            runtime=runtime,
            gateways=Gateways(image, store, keybox, gateway, runtime.models),
            alerts=alerts,
        )
