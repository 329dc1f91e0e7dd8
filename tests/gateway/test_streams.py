"""Streamed answers, assembled and parsed: the images, text, usage and errors users get."""

from __future__ import annotations

import base64
import io
import random
from typing import Any

import orjson
import pytest
from PIL import Image

from bot.errors import (
    ContentBlocked,
    MalformedResponse,
    NoImageReturned,
    PaymentRequired,
)
from bot.gateway.parsing import parse_response
from bot.gateway.sse import SSEDecoder, decode_events
from bot.gateway.streams import NO_ANSWER, NOT_UNDERSTOOD, assemble
from bot.gateway.turns import restore_inline_data
from bot.i18n import render
from bot.types import ImageRequest
from tests.fakes.gateway import Reply, jpeg_bytes, png_bytes

PNG = png_bytes(12, 8, (200, 10, 30))
JPEG = jpeg_bytes(9, 6)
SSE = "text/event-stream"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def markdown(data: bytes, mime: str = "image/png") -> str:
    return f"![image](data:{mime};base64,{b64(data)})"


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    """A PNG that does not compress: its base64 is as long as a real image's."""
    pixels = random.Random(seed).randbytes(width * height * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (width, height), pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def stream(*chunks: Any, eol: str = "\n", done: bool = True, keepalive: bool = True) -> bytes:
    """An event stream of JSON chunks (strings go out as they are), as gateways write it."""
    lines = [": OPENROUTER PROCESSING", ""] if keepalive else []
    for chunk in chunks:
        data = chunk if isinstance(chunk, str) else orjson.dumps(chunk).decode()
        lines += [f"data: {data}", ""]
    if done:
        lines += ["data: [DONE]", ""]
    return (eol.join(lines) + eol).encode()


def delta(index: int = 0, finish: str | None = None, **fields: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": index, "delta": fields, "finish_reason": finish}
    return {"id": "gen-1", "model": "google/gemini-3-pro-image", "choices": [choice]}


USAGE = {"id": "gen-1", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 1290}}


def pixel(data: bytes, xy: tuple[int, int] = (0, 0)) -> Any:
    with Image.open(io.BytesIO(data)) as image:
        return image.size, image.convert("RGB").getpixel(xy)


def parse(body: bytes, content_type: str | None = SSE, status: int = 200, **kw: Any):
    return parse_response(body, status, content_type, **kw)


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_markdown_data_url_split_across_chunks(eol):
    md = markdown(PNG)
    cut = [0, 5, 40, len(md) // 2, len(md) - 1, len(md)]
    pieces = [md[a:b] for a, b in zip(cut, cut[1:], strict=False)]
    body = stream(
        delta(role="assistant", content="Here it is: "),
        *[delta(content=piece) for piece in pieces],
        delta(content=" Enjoy!"),
        delta(finish="stop"),
        USAGE,
        eol=eol,
    )
    result = parse(body).result
    assert [i.data for i in result.images] == [PNG]
    assert pixel(result.images[0].data) == ((12, 8), (200, 10, 30))
    assert result.text == "Here it is:  Enjoy!"
    assert result.finish_reason == "stop"
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (11, 1301)
    assert result.model == "google/gemini-3-pro-image"
    assert restore_inline_data(result.raw_turn, result.blobs) == {
        "role": "assistant",
        "content": "Here it is: " + md + " Enjoy!",
    }


def test_new_api_whole_image_in_one_long_line_fed_in_small_pieces():
    image = noise_png(300, 300)
    body = stream(delta(role="assistant", content=markdown(image)), delta(finish="stop"))
    assert len(body) > 300_000
    decoder = SSEDecoder()
    events = []
    sizes = random.Random(3).choices([1, 7, 100, 4096, 65536], k=len(body))
    at = 0
    for size in sizes:
        if at >= len(body):
            break
        events += decoder.feed(body[at : at + size])
        at += size
    events += decoder.close()
    assert events == decode_events(body)
    payload = assemble(events)
    assert payload["choices"][0]["message"]["content"] == markdown(image)
    result = parse(body).result
    assert result.images[0].data == image
    assert pixel(image, (7, 9)) == pixel(result.images[0].data, (7, 9))


def test_openrouter_delta_images_with_null_content():
    body = stream(
        delta(role="assistant", content=None),
        delta(
            images=[
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}}
            ]
        ),
        delta(
            images=[
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{b64(JPEG)}"}}
            ]
        ),
        {
            **delta(finish="stop"),
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "stop", "native_finish_reason": "STOP"}
            ],
        },
        USAGE,
    )
    result = parse(body).result
    assert [(i.data, i.mime) for i in result.images] == [(PNG, "image/png"), (JPEG, "image/jpeg")]
    assert result.text == ""
    assert result.usage.completion_tokens == 1290


def test_content_part_arrays_in_deltas():
    body = stream(
        delta(role="assistant", content=[{"type": "text", "text": "A cat"}]),
        delta(content=" on a mat."),
        delta(
            content=[
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}}
            ]
        ),
        delta(finish="stop"),
    )
    payload = assemble(decode_events(body))
    assert payload["choices"][0]["message"]["content"] == [
        {"type": "text", "text": "A cat"},
        {"type": "text", "text": " on a mat."},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64(PNG)}"}},
    ]
    result = parse(body).result
    assert [i.data for i in result.images] == [PNG]
    assert result.text == "A cat\non a mat."


def test_litellm_singular_image_in_a_delta():
    body = stream(delta(image={"url": f"data:image/png;base64,{b64(PNG)}", "detail": "auto"}))
    assert [i.data for i in parse(body).result.images] == [PNG]


def test_reasoning_role_and_last_finish_reasons_are_accumulated():
    body = stream(
        delta(role="assistant", reasoning="Thinking", reasoning_details=[{"type": "r", "i": 0}]),
        delta(role="ignored", reasoning=" harder", reasoning_details=[{"type": "r", "i": 1}]),
        delta(content=markdown(PNG)),
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {},
                    "finish_reason": "length",
                    "native_finish_reason": "MAX_TOKENS",
                }
            ]
        },
        {
            "choices": [
                {"index": 0, "delta": {}, "finish_reason": "stop", "native_finish_reason": "STOP"}
            ]
        },
        {"choices": [{"index": 0, "delta": {}, "finish_reason": None}]},
    )
    payload = assemble(decode_events(body))
    [choice] = payload["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["reasoning"] == "Thinking harder"
    assert choice["message"]["reasoning_details"] == [{"type": "r", "i": 0}, {"type": "r", "i": 1}]
    assert (choice["finish_reason"], choice["native_finish_reason"]) == ("stop", "STOP")
    assert (payload["id"], payload["model"]) == ("gen-1", "google/gemini-3-pro-image")
    assert parse(body).result.finish_reason == "stop"


def test_choice_indexes_are_kept_apart():
    body = stream(
        delta(0, content="first "),
        delta(1, content="second "),
        delta(0, content="one"),
        delta(1, content="two", finish="stop"),
        delta(0, content=markdown(PNG), finish="stop"),
    )
    payload = assemble(decode_events(body))
    contents = [c["message"]["content"] for c in payload["choices"]]
    assert contents == ["first one" + markdown(PNG), "second two"]
    assert [c["index"] for c in payload["choices"]] == [0, 1]


def test_sse_labelled_json_or_unlabelled_is_read():
    body = stream(delta(content=markdown(PNG)), USAGE, keepalive=False)
    for content_type in ("application/json", None, "text/plain"):
        assert parse(body, content_type).result.images[0].data == PNG
    assert parse(b"\xef\xbb\xbf\n" + body, "application/json").result.images[0].data == PNG


def test_nothing_after_done_counts():
    body = stream(delta(content=markdown(PNG))) + stream(
        delta(content=markdown(JPEG)), keepalive=False
    )
    assert [i.data for i in parse(body).result.images] == [PNG]


def test_a_whole_completion_sent_as_one_event():
    completion = {"choices": [{"message": {"role": "assistant", "content": markdown(PNG)}}]}
    assert parse(stream(completion)).result.images[0].data == PNG
    images_api = {"created": 1, "data": [{"b64_json": b64(PNG)}]}
    assert parse(stream(images_api)).result.images[0].data == PNG


def test_text_only_stream_carries_the_model_text():
    body = stream(delta(content="I can't "), delta(content="draw that."), delta(finish="stop"))
    with pytest.raises(NoImageReturned, match="I can't draw that."):
        parse(body)


def test_content_filter_finish_in_a_stream_is_a_block():
    body = stream(delta(content=None), delta(finish="content_filter"))
    with pytest.raises(ContentBlocked):
        parse(body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n",
        b"data: [DONE]\n\n",
        b"event: ping\nid: 1\n\ndata:\n\n",
    ],
)
def test_a_stream_without_data_ended_without_an_answer(body):
    with pytest.raises(MalformedResponse) as info:
        parse(body)
    assert (
        str(info.value)
        == render(NO_ANSWER)
        == "The image service's stream ended without an answer."
    )


@pytest.mark.parametrize(
    "body", [b"data: <html>oops</html>\n\n", b"data: 42\n\ndata: {broken\n\n", b"data: [1, 2]\n\n"]
)
def test_a_stream_of_garbage_is_not_understood(body):
    with pytest.raises(MalformedResponse) as info:
        parse(body)
    assert str(info.value) == render(NOT_UNDERSTOOD)
    assert "not JSON" not in str(info.value)


@pytest.mark.parametrize(
    "first",
    [
        {"type": "ping"},
        {"id": "gen-1", "object": "chat.completion.chunk", "model": "google/gemini-3-pro-image"},
        {"id": "gen-1", "provider": "Google", "usage": None},
    ],
)
def test_a_chat_stream_may_start_with_a_chunk_without_choices(first):
    body = stream(first, delta(role="assistant", content="Here " + markdown(PNG)), USAGE)
    result = parse(body).result
    assert [image.data for image in result.images] == [PNG]
    assert result.text == "Here"
    assert result.model == "google/gemini-3-pro-image"


def test_usage_chunk_without_choices_still_counts():
    usage_only = {"usage": {"prompt_tokens": 4, "completion_tokens": 6}}
    result = parse(stream(delta(content=markdown(PNG)), usage_only)).result
    assert (result.usage.prompt_tokens, result.usage.total_tokens) == (4, 10)
    with pytest.raises(MalformedResponse, match="could not be understood"):
        parse(stream(usage_only))


async def test_streamed_answers_through_the_client(client, gateway_for, fake_gateway):
    # Through the real client: spooled to a file, parsed in a worker process.
    body = stream(delta(role="assistant", content=markdown(PNG)), USAGE)
    fake_gateway.script(
        Reply(body=body, content_type="application/json"),
        Reply(body=stream(delta(content="x"), {"error": {"code": 402, "message": "BALANCE-LOW"}})),
    )
    result = await client.generate(gateway_for("plain"), ImageRequest(model="m", prompt="p"))
    assert [i.data for i in result.images] == [PNG]
    assert result.usage.prompt_tokens == 11
    with pytest.raises(PaymentRequired) as info:
        await client.generate(gateway_for("plain"), ImageRequest(model="m", prompt="p"))
    assert (
        str(info.value)
        == "The image service account is out of credit. The service said: BALANCE-LOW."
    )
