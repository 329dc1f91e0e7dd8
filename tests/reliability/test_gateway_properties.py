"""Property test at the client's boundary: any status, headers and body a gateway may send.

tests/gateway/test_parsing_properties.py covers ``parse_response`` and ``map_error``
on their own; this drives the whole ``GatewayClient.generate`` (transport, size cap,
content decoding, Retry-After handling, retries, error mapping, hosted-image links)
over ``httpx.MockTransport``, so header and encoding combinations are covered too.
"""

from __future__ import annotations

import asyncio
import gzip

import httpx
import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.errors import ImagineError
from bot.gateway.client import GatewayClient
from bot.types import GatewayConfig, ImageRequest, ImageResult
from bot.workers import CpuPool
from tests.gateway.test_parsing_properties import JSON, PNG

REQUEST = ImageRequest(model="gemini-3-pro-image-preview", prompt="a cat")
CAP = 64 * 1024

HEADER_VALUES = {
    "retry-after": st.sampled_from(["0", "1e308", "-5", "nan", "inf", "soon", ""])
    | st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"])
    | st.text(st.characters(max_codepoint=255, blacklist_categories=("Cc",)), max_size=12),
    "retry-after-ms": st.sampled_from(["0", "10", "nan", "-1", "1e400", "x"]),
    "content-type": st.sampled_from(
        ["application/json", "text/html", "image/png", "application/json; charset=latin-1", ""]
    ),
    "content-encoding": st.sampled_from(["gzip", "deflate", "identity", "br", "zstd", "bogus"]),
    "content-length": st.sampled_from([str(CAP + 1), "99999999999"]),
    "location": st.sampled_from(["/hosted/x.png", "http://169.254.169.254/", "::"]),
}
HEADERS = st.dictionaries(
    st.sampled_from(sorted(HEADER_VALUES)), st.just(None), max_size=4
).flatmap(lambda names: st.fixed_dictionaries({n: HEADER_VALUES[n] for n in names}))


def _json_body(payload: object) -> bytes:
    try:
        return orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        return b"{}"


BODIES = (
    JSON.map(_json_body)
    | st.binary(max_size=200)
    | st.sampled_from(
        [PNG, b"<html>502</html>", gzip.compress(b'{"error": "x"}'), b" " * (CAP + 5)]
    )
)


async def _generate(status: int, headers: dict[str, str], body: bytes) -> ImageResult:
    def answer(request: httpx.Request) -> httpx.Response:
        # An explicit content-length that disagrees with the body is part of the test.
        raw = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
        return httpx.Response(status, headers=raw, content=body)

    async def resolve(host: str, port: int) -> list[str]:
        return ["93.184.216.34"] if host != "169.254.169.254" else [host]

    pool = CpuPool(1, inline=True)
    try:
        async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as http:
            client = GatewayClient(
                http,
                pool,
                max_response_bytes=CAP,
                backoff_base=0.0001,
                backoff_max=0.001,
                max_retry_wait=0.01,
                resolve=resolve,
            )
            gateway = GatewayConfig(
                base_url="https://gateway.example/v1", api_key="sk-prop-0123456789abcdef"
            )
            return await client.generate(gateway, REQUEST)
    finally:
        await pool.close()


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(100, 599) | st.sampled_from([200, 429, 503]), HEADERS, BODIES)
def test_any_answer_is_a_result_or_a_project_error(status, headers, body) -> None:
    try:
        result = asyncio.run(_generate(status, headers, body))
    except ImagineError as exc:
        event(type(exc).__name__)
        assert str(exc) and "sk-prop-0123456789abcdef" not in str(exc)
        return
    event("result")
    assert isinstance(result, ImageResult) and result.images
