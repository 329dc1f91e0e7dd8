from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from bot.storage import BlobNotFound, InvalidValue, Store, StoredImage, TurnRecord
from tests.storage.conftest import OpenDB
from tests.storage.drivers import Probe
from tests.storage.helpers import Clock

CHANNEL = 500


def turn(prompt: str, *, inputs=(), outputs=(), raw=None, channel: int = CHANNEL) -> TurnRecord:
    return TurnRecord(
        channel_id=channel,
        guild_id=1,
        user_id=2,
        prompt=prompt,
        inputs=tuple(inputs),
        outputs=tuple(outputs),
        model_text=f"text for {prompt}",
        raw_turn=raw,
    )


async def blob(store: Store, tag: str) -> StoredImage:
    return await store.put_blob(f"png bytes {tag}".encode(), "image/png", 64, 32)


async def test_blob_round_trip_and_dedup(store: Store, probe: Probe) -> None:
    data = os.urandom(3000)
    first = await store.put_blob(data, "image/webp", 10, 20)
    second = await store.put_blob(data, "image/webp", 10, 20)
    assert first == second == StoredImage(hashlib.sha256(data).hexdigest(), "image/webp", 10, 20)
    assert await store.get_blob(first.sha256) == data
    assert await store.blob_info(first.sha256) == first
    assert await probe.blob_shas() == {first.sha256}


async def test_second_put_fills_unknown_dimensions(store: Store) -> None:
    await store.put_blob(b"x" * 10, "image/png")
    again = await store.put_blob(b"x" * 10, "image/png", 5, 6)
    assert (again.width, again.height) == (5, 6)


async def test_unknown_blob_is_key_error(store: Store) -> None:
    with pytest.raises(KeyError):
        await store.get_blob("0" * 64)
    with pytest.raises(BlobNotFound):
        await store.blob_info("0" * 64)


async def test_large_blob_round_trip(store: Store, probe: Probe) -> None:
    data = os.urandom(24 * 1024 * 1024)
    ref = await store.put_blob(data, "image/png", 4096, 4096)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert await store.get_blob(ref.sha256) == data
    assert await probe.blob_shas() == {ref.sha256}


async def test_recent_turns_are_oldest_first_with_images(store: Store) -> None:
    a, b, c = [await blob(store, t) for t in "abc"]
    ids = [
        await store.append_turn(turn("one", outputs=[a]), keep=10),
        await store.append_turn(turn("two", inputs=[a], outputs=[b]), keep=10),
        await store.append_turn(turn("three", inputs=[b, a], outputs=[c]), keep=10),
    ]
    assert ids == sorted(ids)
    recent = await store.recent_turns(CHANNEL, 2)
    assert [t.prompt for t in recent] == ["two", "three"]
    assert [t.id for t in recent] == ids[1:]
    assert recent[1].inputs == (b, a)
    assert recent[1].outputs == (c,)
    assert recent[1].model_text == "text for three"
    assert recent[1].created_at == 1_700_000_000.0
    assert [t.prompt for t in await store.recent_turns(CHANNEL, 10)] == ["one", "two", "three"]
    assert await store.recent_turns(CHANNEL, 0) == []
    assert await store.recent_turns(999, 5) == []


async def test_append_prunes_beyond_keep(store: Store, probe: Probe) -> None:
    for i in range(5):
        await store.append_turn(turn(f"p{i}"), keep=3)
    await store.append_turn(turn("elsewhere", channel=777), keep=3)
    assert [t.prompt for t in await store.recent_turns(CHANNEL, 10)] == ["p2", "p3", "p4"]
    assert await probe.turn_count(CHANNEL) == 3
    # a smaller keep later shrinks the history at the next append
    await store.append_turn(turn("p5"), keep=1)
    assert [t.prompt for t in await store.recent_turns(CHANNEL, 10)] == ["p5"]
    assert len(await store.recent_turns(777, 10)) == 1


async def test_keep_zero_keeps_nothing(store: Store) -> None:
    await store.append_turn(turn("gone"), keep=0)
    assert await store.recent_turns(CHANNEL, 5) == []
    with pytest.raises(InvalidValue, match="keep"):
        await store.append_turn(turn("x"), keep=-1)
    assert await store.recent_turns(CHANNEL, 5) == []


async def test_reset_counts_and_leaves_other_channels(store: Store) -> None:
    for i in range(3):
        await store.append_turn(turn(f"p{i}"), keep=10)
    await store.append_turn(turn("other", channel=8), keep=10)
    assert await store.reset_history(CHANNEL) == 3
    assert await store.recent_turns(CHANNEL, 10) == []
    assert await store.reset_history(CHANNEL) == 0
    assert [t.prompt for t in await store.recent_turns(8, 10)] == ["other"]


async def test_raw_turn_round_trips_with_nested_blob_refs(store: Store) -> None:
    img = await blob(store, "out")
    thought = await blob(store, "thought")
    raw = {
        "role": "model",
        "parts": [
            {"text": "Here you go", "thought": False},
            {
                "inlineData": {"mimeType": "image/png", "data": {"$blob": img.sha256}},
                "thoughtSignature": "c2ln" * 50,
            },
            {"thought": True, "inlineData": {"data": {"$blob": thought.sha256}}},
            {"unicode": "héllo ✓", "n": 1.5, "none": None, "nested": [[{"$blob": img.sha256}]]},
        ],
    }
    await store.append_turn(turn("p", outputs=[img], raw=raw), keep=5)
    (got,) = await store.recent_turns(CHANNEL, 1)
    assert got.raw_turn == raw
    assert got.outputs == (img,)


async def test_blob_named_inside_a_string_of_the_raw_turn_is_kept(store: Store) -> None:
    # Chat turns keep their image as a "$blob:<sha>" marker inside a data URI string.
    img = await blob(store, "chat")
    raw = {"role": "assistant", "content": f"![i](data:image/png;base64,$blob:{img.sha256})"}
    await store.append_turn(turn("p", raw=raw), keep=5)
    assert await store.collect_garbage() == 0
    assert await store.get_blob(img.sha256) == b"png bytes chat"


async def test_escaped_blob_object_in_the_raw_turn_is_text_not_a_reference(
    store: Store,
) -> None:
    # strip_inline_data wraps a gateway's own {"$blob": ...} object in {"$literal": ...}.
    raw = {"parts": [{"$literal": {"$blob": "e" * 64}}]}
    await store.append_turn(turn("p", raw=raw), keep=5)
    (got,) = await store.recent_turns(CHANNEL, 1)
    assert got.raw_turn == raw


async def test_turn_with_unstored_blob_is_refused_whole(store: Store, probe: Probe) -> None:
    ghost = StoredImage("f" * 64, "image/png")
    with pytest.raises(KeyError, match="never stored"):
        await store.append_turn(turn("p", outputs=[ghost]), keep=5)
    with pytest.raises(KeyError):
        await store.append_turn(turn("p", raw={"parts": [{"$blob": "e" * 64}]}), keep=5)
    assert await probe.turn_count() == 0


async def test_prune_collects_unreferenced_blobs_only(store: Store, probe: Probe) -> None:
    a, b, c, _unused = [await blob(store, t) for t in "abcd"]
    raw_only = await blob(store, "raw-only")
    await store.append_turn(turn("1", outputs=[a], raw={"x": {"$blob": raw_only.sha256}}), keep=2)
    await store.append_turn(turn("2", inputs=[a], outputs=[b]), keep=2)
    assert len(await probe.blob_shas()) == 5  # c, d not yet referenced, nothing deleted yet
    await store.append_turn(turn("3", inputs=[b], outputs=[c]), keep=2)
    # turn 1 went: raw_only and the never-used d go; a survives through turn 2
    assert await probe.blob_shas() == {a.sha256, b.sha256, c.sha256}
    with pytest.raises(KeyError):
        await store.get_blob(raw_only.sha256)


async def test_reset_collects_but_spares_blobs_of_other_channels_and_jobs(
    store: Store, probe: Probe
) -> None:
    shared, mine, job_input = [await blob(store, t) for t in ("shared", "mine", "job")]
    await store.append_turn(turn("p", inputs=[shared], outputs=[mine]), keep=5)
    await store.append_turn(turn("q", outputs=[shared], channel=9), keep=5)
    await store.create_job(
        kind="edit",
        guild_id=1,
        channel_id=CHANNEL,
        user_id=2,
        prompt="p",
        params={"inputs": [job_input.sha256], "model": "m"},
    )
    await store.append_turn(turn("r", inputs=[job_input]), keep=5)
    assert await store.reset_history(CHANNEL) == 2
    assert await probe.blob_shas() == {shared.sha256, job_input.sha256}
    assert await probe.problems() == []


async def test_grace_protects_blobs_put_but_not_yet_referenced(
    open_db: OpenDB, probe: Probe, clock: Clock
) -> None:
    store = await open_db(blob_grace=600)
    old = await blob(store, "old")
    await store.append_turn(turn("p", outputs=[old]), keep=5)
    clock.advance(601)
    fresh = await blob(store, "fresh")  # an edit elsewhere, about to append its turn
    await store.reset_history(CHANNEL)
    assert await probe.blob_shas() == {fresh.sha256}
    await store.append_turn(turn("q", outputs=[fresh], channel=9), keep=5)
    clock.advance(601)
    assert await store.collect_garbage() == 0  # referenced now


async def test_fifty_concurrent_appends_stay_consistent(
    open_db: OpenDB, probe: Probe, clock: Clock
) -> None:
    # Each task puts its image and then appends, as the bot does; the grace keeps one
    # task's prune from collecting another's image in between.
    store = await open_db(blob_grace=600)

    async def edit(i: int) -> int:
        image = await blob(store, str(i))
        return await store.append_turn(turn(f"p{i}", outputs=[image]), keep=10)

    try:
        ids = await asyncio.gather(*(edit(i) for i in range(50)))
        assert len(set(ids)) == 50
        recent = await store.recent_turns(CHANNEL, 50)
        assert [t.id for t in recent] == sorted(ids)[-10:]
        clock.advance(601)
        assert await store.collect_garbage() == 40
    finally:
        await store.close()
    kept = {t.outputs[0].sha256 for t in recent}
    assert await probe.blob_shas() == kept
    assert await probe.turn_refs() == 10
    assert await probe.problems() == []


async def test_two_stores_on_one_database_interleave_safely(open_db: OpenDB) -> None:
    # The bot and a CLI run may share the database (SQLite: BEGIN IMMEDIATE + busy_timeout).
    first = await open_db(blob_grace=0)
    second = await open_db(blob_grace=0)
    await asyncio.gather(
        *(
            s.append_turn(turn(f"{n}-{i}"), keep=1000)
            for i in range(25)
            for n, s in (("a", first), ("b", second))
        )
    )
    assert len(await first.recent_turns(CHANNEL, 1000)) == 50
    assert len(await second.recent_turns(CHANNEL, 1000)) == 50
