"""Fixtures: the loopback fake gateway and a client with fast backoff (the pool is shared)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bot.gateway.client import GatewayClient
from bot.transport import http_client
from bot.types import GatewayConfig
from bot.workers import CpuPool
from tests.fakes.gateway import FakeGateway

API_KEY = "sk-test-0123456789abcdef-SECRET"


@pytest.fixture
async def fake_gateway() -> AsyncIterator[FakeGateway]:
    async with FakeGateway(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client() as client:
        yield client


@pytest.fixture
def make_client(http: httpx.AsyncClient, cpu_pool: CpuPool) -> Callable[..., GatewayClient]:
    def make(**kw) -> GatewayClient:
        kw.setdefault("backoff_base", 0.001)
        return GatewayClient(http, cpu_pool, **kw)

    return make


@pytest.fixture
def client(make_client: Callable[..., GatewayClient]) -> GatewayClient:
    return make_client()


@pytest.fixture
def gateway_for(fake_gateway: FakeGateway) -> Callable[..., GatewayConfig]:
    def make(dialect: str = "auto", **kw) -> GatewayConfig:
        base = fake_gateway.google_base_url if dialect == "google" else fake_gateway.base_url
        kw.setdefault("api_key", API_KEY)
        kw.setdefault("timeout", 10.0)
        return GatewayConfig(base_url=base, dialect=dialect, **kw)

    return make
