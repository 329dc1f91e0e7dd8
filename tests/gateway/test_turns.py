"""Raw turns stripped of image payloads and restored verbatim."""

from __future__ import annotations

import base64
import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.gateway.turns import blob_refs, restore_inline_data, strip_inline_data
from tests.fakes.gateway import png_bytes

PNG = png_bytes(4, 4)
B64 = base64.b64encode(PNG).decode()
SHA = hashlib.sha256(PNG).hexdigest()


def test_native_turn_round_trip_keeps_signatures():
    turn = {
        "role": "model",
        "parts": [
            {"text": "here", "thoughtSignature": "EpYBCpMBAb4+9vv="},
            {"inlineData": {"mimeType": "image/png", "data": B64}, "thoughtSignature": "Zm9v"},
            {"inline_data": {"mime_type": "image/png", "data": B64}, "thought": True},
        ],
    }
    stripped, blobs = strip_inline_data(turn)
    assert stripped["parts"][1]["inlineData"] == {"mimeType": "image/png", "data": {"$blob": SHA}}
    assert stripped["parts"][2]["inline_data"]["data"] == {"$blob": SHA}
    assert blobs == {SHA: PNG}
    assert blob_refs(stripped) == {SHA}
    assert B64 not in repr(stripped)
    assert restore_inline_data(stripped, blobs) == turn


def test_chat_message_round_trip():
    message = {
        "role": "assistant",
        "content": f"Look: ![image](data:image/png;base64,{B64}) nice",
        "images": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{B64}"}}],
    }
    stripped, blobs = strip_inline_data(message)
    assert stripped["content"] == f"Look: ![image](data:image/png;base64,$blob:{SHA}) nice"
    assert stripped["images"][0]["image_url"]["url"] == f"data:image/png;base64,$blob:{SHA}"
    assert restore_inline_data(stripped, blobs) == message


def test_non_canonical_base64_stays_inline():
    unpadded = B64.rstrip("=")
    wrapped = B64[:20] + "\n" + B64[20:]
    turn = {"parts": [{"inlineData": {"data": unpadded}}, {"inlineData": {"data": wrapped}}]}
    stripped, blobs = strip_inline_data(turn)
    assert blobs == {} or stripped["parts"][0]["inlineData"]["data"] == unpadded
    assert restore_inline_data(stripped, blobs) == turn


def test_missing_blob_is_an_error():
    import pytest

    stripped, _ = strip_inline_data({"inlineData": {"data": B64}})
    with pytest.raises(KeyError):
        restore_inline_data(stripped, {})


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.sampled_from(
        [B64, f"data:image/png;base64,{B64}", f"x $blob:{SHA} y", "data:image/png;base64,QQ=="]
    ),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["inlineData", "data", "text", "parts", "$blob", "url"])
            | st.text(max_size=8),
            children,
            max_size=4,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_round_trip_is_verbatim_for_any_turn(turn):
    stripped, blobs = strip_inline_data({"t": turn})
    assert restore_inline_data(stripped, blobs) == {"t": turn}
    assert blob_refs(stripped) == set(blobs)


def test_text_and_objects_that_look_like_references_survive():
    turn = {
        "a": f"$blob:{SHA}",
        "b": f"$$blob:{SHA}",
        "c": {"$blob": SHA},
        "d": {"$literal": {"x": 1}},
        "inlineData": {"$blob": "zz"},
        "e": f"data:image/png;base64,{B64} and $blob:{SHA}",
    }
    stripped, blobs = strip_inline_data(turn)
    assert blob_refs(stripped) == {SHA}
    assert restore_inline_data(stripped, blobs) == turn


def test_absurdly_deep_values_are_refused_not_recursed():
    import pytest

    from bot.gateway.turns import TurnTooDeep

    deep: dict = {}
    node = deep
    for _ in range(500):
        node["x"] = {}
        node = node["x"]
    with pytest.raises(TurnTooDeep):
        strip_inline_data(deep)
