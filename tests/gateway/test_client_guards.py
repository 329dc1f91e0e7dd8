"""The client's guards: no private addresses (SSRF), the key never in errors, logs, workers."""

from __future__ import annotations

import logging
import pickle

import pytest

from bot.errors import (
    GatewayAuthError,
    GatewayRejected,
    GatewayUnavailable,
    ImagineError,
    UnsafeGatewayURL,
)
from bot.gateway.client import GatewayClient
from bot.types import GatewayConfig
from bot.workers import CpuPool
from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    choice_error,
    google_error,
    google_response,
    images_response,
    openai_error,
)

from .conftest import API_KEY
from .test_client import PNG, REQUEST


async def test_ssrf_refused_for_private_gateway(client, fake_gateway):
    gateway = GatewayConfig(
        base_url=fake_gateway.base_url, api_key=API_KEY, allow_private_network=False
    )
    with pytest.raises(UnsafeGatewayURL):
        await client.generate(gateway, REQUEST)
    with pytest.raises(UnsafeGatewayURL):
        await client.list_models(gateway)
    assert fake_gateway.requests == []


@pytest.mark.parametrize(
    "address", ["10.0.0.7", "169.254.169.254", "fd00:ec2::254", "::1", "192.168.1.1", "fec0::1"]
)
async def test_ssrf_checks_resolved_addresses(make_client, address):
    async def resolve(host, port):
        return ["93.184.216.34", address]

    gateway = GatewayConfig(
        base_url="https://gw.example/v1", api_key=API_KEY, allow_private_network=False
    )
    with pytest.raises(UnsafeGatewayURL):
        await make_client(resolve=resolve).generate(gateway, REQUEST)


async def test_ssrf_holds_when_dns_changes_its_answer_before_the_connection(
    make_client, fake_gateway
):
    async def first_answer(host, port):  # what netguard was told: a public address
        return ["93.184.216.34"]

    port = fake_gateway.base_url.rsplit(":", 1)[1].split("/")[0]
    gateway = GatewayConfig(  # localhost: the connection's own lookup finds 127.0.0.1
        base_url=f"http://localhost:{port}/v1", api_key=API_KEY, allow_private_network=False
    )
    with pytest.raises(GatewayUnavailable):
        await make_client(resolve=first_answer).generate(gateway, REQUEST)
    assert fake_gateway.requests == []


async def test_ssrf_refuses_private_hosted_image_url(http, cpu_pool, fake_gateway):
    import httpx

    from bot.gateway.client import GatewayClient

    async def resolve(host, port):
        return ["93.184.216.34"]

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host == "gw.example"
        return httpx.Response(200, json=images_response([fake_gateway.host_image(PNG)]))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock_http:
        client = GatewayClient(mock_http, cpu_pool, resolve=resolve)
        gateway = GatewayConfig(
            base_url="https://gw.example/v1", api_key=API_KEY, allow_private_network=False
        )
        with pytest.raises(UnsafeGatewayURL):
            await client.generate(gateway, REQUEST)
    assert fake_gateway.requests == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply(status=401, body=openai_error(f"Incorrect API key provided: {API_KEY}")),
        Reply(
            status=400,
            body=openai_error(f"bad request for key {API_KEY[:12]}...{API_KEY[-4:]} {API_KEY}"),
        ),
        Reply(status=404, body=google_error(404, f"model not found (key={API_KEY})", "NOT_FOUND")),
        Reply(body=choice_error(f"upstream said {API_KEY}", 500)),
        Reply(body=google_response([], f"My key is {API_KEY}", finish_reason="NO_IMAGE")),
    ],
)
async def test_key_never_in_error_messages(client, fake_gateway, reply):
    gateway = GatewayConfig(base_url=fake_gateway.base_url, api_key=API_KEY, max_retries=0)
    fake_gateway.script(reply)
    with pytest.raises(ImagineError) as info:
        await client.generate(gateway, REQUEST)
    assert API_KEY not in str(info.value)
    assert all(API_KEY not in str(arg) for arg in info.value.args)
    assert API_KEY not in info.value.gateway_message


class RecordingPool(CpuPool):
    """A real pool that also keeps what each job's arguments look like when pickled."""

    def __init__(self) -> None:
        super().__init__(inline=True)
        self.pickled: list[bytes] = []

    def submit(self, fn, /, *args):
        self.pickled.append(pickle.dumps((fn, args)))
        return super().submit(fn, *args)


@pytest.mark.parametrize("dialect", ["auto", "google"])
async def test_key_never_travels_to_the_worker_processes(http, gateway_for, fake_gateway, dialect):
    pool = RecordingPool()
    try:
        client = GatewayClient(http, pool)
        await client.generate(gateway_for(dialect), REQUEST)
        await client.prepare_images([PNG])
    finally:
        await pool.close()
    assert len(pool.pickled) >= 3
    assert all(API_KEY.encode() not in blob for blob in pool.pickled)


async def test_key_never_logged(client, gateway_for, fake_gateway, caplog):
    caplog.set_level(logging.DEBUG)
    fake_gateway.script(
        Reply(status=500, body=openai_error(f"echo {API_KEY}")),
        Reply(status=401, body=openai_error(f"bad key {API_KEY}")),
    )
    with pytest.raises(GatewayAuthError):
        await client.generate(gateway_for("google"), REQUEST)
    await client.list_models(gateway_for("auto"))
    assert caplog.records
    assert API_KEY not in caplog.text


async def test_an_echoed_key_is_scrubbed_from_the_words_too(client):
    key = "plain-key-42"  # looks like no key pattern: only the exact-key scrub catches it
    async with FakeGateway() as fake:
        fake.script(Reply(status=400, body=openai_error(f"Key {key} may not use this model")))
        with pytest.raises(GatewayRejected) as info:
            await client.generate(
                GatewayConfig(base_url=fake.base_url, api_key=key, max_retries=0), REQUEST
            )
    assert str(info.value) == (
        "The image service did not accept the request (HTTP 400). "
        "The service said: Key [redacted] may not use this model."
    )
    assert info.value.gateway_message == "Key [redacted] may not use this model."
