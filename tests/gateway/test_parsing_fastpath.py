"""The str.find fast paths give what the full patterns gave, on every Markdown variant."""

from __future__ import annotations

import base64
import hashlib

import orjson
import pytest

from bot.gateway.parsing import parse_response
from bot.gateway.turns import is_canonical_b64, restore_inline_data, strip_inline_data
from tests.fakes.gateway import png_bytes

PNG = png_bytes(12, 8)
PNG2 = png_bytes(5, 7, (1, 2, 3))
B64 = base64.b64encode(PNG).decode()
B64_2 = base64.b64encode(PNG2).decode()
SHA = hashlib.sha256(PNG).hexdigest()


def _chat(content: str) -> bytes:
    return orjson.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]})


@pytest.mark.parametrize(
    "content",
    [
        f"![a](data:image/png;base64,{B64})",
        f"![a]( <data:image/png;base64,{B64}> )",
        f'![a](data:image/png;base64,{B64} "a title")',
        f"![a](data:application/octet-stream;base64,{B64})",
        f"![a](data:image/png;name=x;base64,{B64})",
        f"before ![a](data:image/png;base64,{B64}) mid ![b](data:image/png;base64,{B64_2}) end",
        f"![a](data:image/png;base64,{B64}) and bare data:image/png;base64,{B64_2}",
        f"![x](not-a-url) ![a](data:image/png;base64,{B64})",
    ],
)
def test_markdown_variants_parse_and_round_trip(content):
    result = parse_response(_chat(content), 200, "application/json").result
    assert result.images[0].data == PNG
    assert "base64" not in result.text
    turn = {"role": "assistant", "content": content}
    assert restore_inline_data(result.raw_turn, result.blobs) == turn


def test_two_images_keep_their_order_and_text():
    content = f"one ![a](data:image/png;base64,{B64}) two ![b](data:image/png;base64,{B64_2}) three"
    result = parse_response(_chat(content), 200, "application/json").result
    assert [i.data for i in result.images] == [PNG, PNG2]
    assert result.text == "one  two  three"
    assert set(result.blobs) == {SHA, hashlib.sha256(PNG2).hexdigest()}


def test_known_payload_followed_by_more_base64_is_not_cut_short():
    # The decoded payload is a prefix of the URI's base64 run: the stripper must not swap it.
    turn = {"content": f"data:image/png;base64,{B64}QUJD"}
    stripped, blobs = strip_inline_data(turn, {B64: PNG})
    assert restore_inline_data(stripped, blobs) == turn
    assert SHA not in blobs


@pytest.mark.parametrize(
    "payload, canonical",
    [
        ("QUJD", True),
        ("QUI=", True),
        ("QUJ=", False),
        ("QQ==", True),
        ("QR==", False),
        ("QUI", False),
    ],
)
def test_canonical_base64_check(payload, canonical):
    assert is_canonical_b64(payload) is canonical
