"""The edit tree: parents, the movable head, paths and the gallery listing (both drivers)."""

from __future__ import annotations

import pytest

from bot.storage import InvalidValue, Store, TurnRecord
from tests.storage.test_history import CHANNEL, blob, turn


async def line(store: Store, *prompts: str) -> list[int]:
    return [await store.append_turn(turn(p), keep=50) for p in prompts]


def prompts(turns: object) -> list[str]:
    return [t.prompt for t in turns]  # type: ignore[attr-defined]


async def test_a_line_links_each_turn_to_the_one_before(store: Store) -> None:
    one, two, three = await line(store, "one", "two", "three")
    path = await store.recent_turns(CHANNEL, 10)
    assert [(t.id, t.parent_id) for t in path] == [(one, None), (two, one), (three, two)]
    assert await store.head_turn(CHANNEL) == three
    assert await store.head_turn(999) is None


async def test_continuing_from_a_step_branches_and_keeps_the_other_branch(store: Store) -> None:
    one, two, three = await line(store, "one", "two", "three")
    assert await store.set_head(CHANNEL, one) is True
    assert prompts(await store.recent_turns(CHANNEL, 10)) == ["one"]
    four = await store.append_turn(turn("four"), keep=50)
    path = await store.recent_turns(CHANNEL, 10)
    assert [(t.id, t.parent_id) for t in path] == [(one, None), (four, one)]
    assert await store.head_turn(CHANNEL) == four
    assert prompts(await store.turn_path(CHANNEL, three, 10)) == ["one", "two", "three"]
    assert prompts(await store.turn_path(CHANNEL, three, 2)) == ["two", "three"]
    assert await store.count_turns(CHANNEL) == 4
    assert prompts(await store.list_turns(CHANNEL, offset=0, limit=10)) == [
        "four",
        "three",
        "two",
        "one",
    ]
    assert prompts(await store.list_turns(CHANNEL, offset=1, limit=2)) == ["three", "two"]
    assert await store.list_turns(CHANNEL, offset=4, limit=2) == []


async def test_restore_moves_the_head_and_the_next_append_follows_it(store: Store) -> None:
    one, two, three = await line(store, "one", "two", "three")
    await store.set_head(CHANNEL, two)
    assert prompts(await store.recent_turns(CHANNEL, 10)) == ["one", "two"]
    five = await store.append_turn(turn("five"), keep=50)
    assert [t.id for t in await store.recent_turns(CHANNEL, 10)] == [one, two, five]


async def test_set_head_refuses_a_turn_of_another_channel_or_none(store: Store) -> None:
    (one,) = await line(store, "one")
    other = await store.append_turn(turn("other", channel=CHANNEL + 1), keep=50)
    assert await store.set_head(CHANNEL, other) is False
    assert await store.set_head(CHANNEL, 10_000) is False
    assert await store.head_turn(CHANNEL) == one
    assert await store.turn_path(CHANNEL, other, 10) == []
    with pytest.raises(InvalidValue):
        await store.turn_path(CHANNEL, one, "3")  # type: ignore[arg-type]


async def test_path_images_and_raw_turns_come_back(store: Store) -> None:
    a, b = await blob(store, "a"), await blob(store, "b")
    raw = {"role": "model", "parts": [{"thoughtSignature": "sig-1"}, {"$blob": a.sha256}]}
    first = await store.append_turn(
        TurnRecord(CHANNEL, 1, 2, "one", outputs=(a,), raw_turn=raw), keep=50
    )
    await store.append_turn(turn("two", inputs=[a], outputs=[b]), keep=50)
    await store.set_head(CHANNEL, first)
    (got,) = await store.recent_turns(CHANNEL, 10)
    assert got.outputs == (a,)
    assert got.raw_turn == raw


async def test_reset_clears_the_head(store: Store) -> None:
    one, _ = await line(store, "one", "two")
    await store.set_head(CHANNEL, one)
    await store.reset_history(CHANNEL)
    assert await store.head_turn(CHANNEL) is None
    (fresh,) = await line(store, "fresh")
    assert [(t.id, t.parent_id) for t in await store.recent_turns(CHANNEL, 10)] == [(fresh, None)]


async def test_a_pruned_head_falls_back_to_the_newest(store: Store) -> None:
    one, _ = await line(store, "one", "two")
    await store.set_head(CHANNEL, one)
    await store.append_turn(turn("three"), keep=50)
    await store.set_head(CHANNEL, one)
    await store.append_turn(turn("four"), keep=1)
    assert prompts(await store.recent_turns(CHANNEL, 10)) == ["four"]


async def test_deleting_a_middle_step_relinks_its_children_and_the_head(store: Store) -> None:
    one = await store.append_turn(turn("one"), keep=50)
    job = await store.create_job(
        kind="edit", guild_id=1, channel_id=CHANNEL, user_id=2, prompt="two", params={}
    )
    two = await store.append_turn(
        TurnRecord(CHANNEL, 1, 2, "two", model_text="t", job_id=job.id), keep=50
    )
    three = await store.append_turn(turn("three"), keep=50)
    await store.set_head(CHANNEL, two)
    await store.delete_result(job.id)
    # The head was the deleted step: the next edit goes on from the step before it.
    assert await store.head_turn(CHANNEL) == one
    assert [(t.id, t.parent_id) for t in await store.turn_path(CHANNEL, three, 10)] == [
        (one, None),
        (three, one),
    ]
