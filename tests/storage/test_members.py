"""The member's side of the store, on every driver: preferences, listing jobs, deleting a result."""

from __future__ import annotations

import pytest

from bot.storage import (
    BlobNotFound,
    InvalidSetting,
    InvalidValue,
    JobNotFound,
    Store,
    StoredImage,
    TurnRecord,
)
from bot.storage.base import MemberPreferences
from tests.storage.conftest import OpenDB
from tests.storage.helpers import Clock

T0 = 1_700_000_000.0
CHANNEL = 3


# preferences -------------------------------------------------------------------------------


async def test_a_member_without_preferences_gets_none_set(store: Store) -> None:
    prefs = await store.get_preferences(42)
    assert prefs == MemberPreferences(user_id=42)
    assert prefs.empty


async def test_preferences_merge_unset_and_survive_a_reopen(store: Store, open_db: OpenDB) -> None:
    first = await store.update_preferences(42, aspect_ratio="16:9", count=3, private=True)
    assert first == MemberPreferences(user_id=42, aspect_ratio="16:9", count=3, private=True)
    second = await store.update_preferences(42, image_size="2K", count=None)
    assert second == MemberPreferences(
        user_id=42, aspect_ratio="16:9", image_size="2K", private=True
    )
    assert await store.get_preferences(7) == MemberPreferences(user_id=7)  # per member
    again = await open_db()
    assert await again.get_preferences(42) == second


async def test_unsetting_every_preference_leaves_none(store: Store) -> None:
    await store.update_preferences(42, model="gemini-3-pro-image-preview", private=False)
    cleared = await store.update_preferences(42, model=None, private=None)
    assert cleared.empty
    assert (await store.get_preferences(42)).empty
    # And setting again after a clear works (the row was removed, not left empty).
    assert (await store.update_preferences(42, count=2)).count == 2


@pytest.mark.parametrize(
    "changes",
    [
        {"aspect_ratio": "5:1"},
        {"image_size": "8K"},
        {"model": "has spaces"},
        {"count": 0},
        {"count": 5},
        {"count": True},
        {"private": "yes"},
        {"colour": "blue"},
    ],
)
async def test_a_bad_preference_changes_nothing(store: Store, changes: dict) -> None:
    await store.update_preferences(42, count=2)
    with pytest.raises(InvalidSetting):
        await store.update_preferences(42, **{"private": True, **changes})
    assert await store.get_preferences(42) == MemberPreferences(user_id=42, count=2)


# listing jobs ------------------------------------------------------------------------------


async def _job(store: Store, *, user: int = 2, guild: int = 1, **params) -> int:
    job = await store.create_job(
        kind="imagine",
        guild_id=guild,
        channel_id=CHANNEL,
        user_id=user,
        prompt="a cat",
        params=params or {"model": "m"},
    )
    return job.id


async def test_list_jobs_filters_by_member_server_state_time_and_counted(
    store: Store, clock: Clock
) -> None:
    queued = await _job(store)
    running = await _job(store)
    await store.update_job(running, state="running")
    clock.advance(100)
    done = await _job(store)
    await store.update_job(done, state="done")
    failed = await _job(store)
    await store.update_job(failed, state="failed", counted=False)
    other_member = await _job(store, user=9)
    other_server = await _job(store, guild=5)

    ids = lambda jobs: [j.id for j in jobs]  # noqa: E731
    mine = await store.list_jobs(user_id=2, guild_id=1)
    assert ids(mine) == [queued, running, done, failed]
    unfinished = await store.list_jobs(user_id=2, guild_id=1, states=("queued", "running"))
    assert ids(unfinished) == [queued, running]
    assert [j.state for j in unfinished] == ["queued", "running"]
    assert ids(await store.list_jobs(user_id=2, since=T0 + 100)) == [done, failed, other_server]
    assert ids(await store.list_jobs(user_id=2, guild_id=1, counted=True, limit=3)) == [
        queued,
        running,
        done,
    ]
    assert ids(await store.list_jobs(user_id=2, guild_id=1, counted=False)) == [failed]
    assert ids(await store.list_jobs(guild_id=1, since=T0 + 100, limit=1)) == [done]
    assert ids(await store.list_jobs(user_id=9)) == [other_member]


@pytest.mark.parametrize(
    "bad",
    [{"states": ("lost",)}, {"states": "queued"}, {"limit": 0}, {"limit": 101}, {"counted": 1}],
)
async def test_list_jobs_refuses_bad_filters(store: Store, bad: dict) -> None:
    with pytest.raises(InvalidValue):
        await store.list_jobs(user_id=2, **bad)


# deleting a result -------------------------------------------------------------------------


async def _done_job_with_turn(
    store: Store, *, inputs: tuple[StoredImage, ...], outputs: tuple[StoredImage, ...]
) -> int:
    job = await store.create_job(
        kind="edit" if inputs else "imagine",
        guild_id=1,
        channel_id=CHANNEL,
        user_id=2,
        prompt="p",
        params={"model": "m", "inputs": [i.sha256 for i in inputs]},
    )
    await store.append_turn(
        TurnRecord(
            channel_id=CHANNEL,
            guild_id=1,
            user_id=2,
            prompt="p",
            inputs=inputs,
            outputs=outputs,
            job_id=job.id,
        ),
        keep=10,
    )
    await store.update_job(
        job.id, state="done", result={"outputs": [o.sha256 for o in outputs], "text": ""}
    )
    return job.id


async def test_deleting_the_latest_result_removes_its_images_and_its_turn(
    open_db: OpenDB, clock: Clock
) -> None:
    # A real grace: the images go at once anyway, since only the deleted job used them.
    store = await open_db(blob_grace=3600)
    first_out = await store.put_blob(b"first-output", "image/png", 8, 8)
    first = await _done_job_with_turn(store, inputs=(), outputs=(first_out,))
    upload = await store.put_blob(b"an-uploaded-input", "image/png")
    second_out = await store.put_blob(b"second-output", "image/png")
    second = await _done_job_with_turn(store, inputs=(first_out, upload), outputs=(second_out,))
    clock.advance(5)

    deleted = await store.delete_result(second)
    assert (deleted.turns, deleted.blobs) == (1, 2)  # its output and the input only it used
    assert deleted.job.result == {"deleted": True}
    assert deleted.job.params == {"model": "m", "inputs": []}
    assert deleted.job.counted and deleted.job.state == "done"  # quotas still count it
    assert await store.get_job(second) == deleted.job
    for gone in (second_out, upload):
        with pytest.raises(BlobNotFound):
            await store.get_blob(gone.sha256)
    # The first job's image, the deleted one's input, is the first job's still; and the
    # chain's latest is it again, so the next /edit edits that image, not a deleted one.
    assert await store.get_blob(first_out.sha256) == b"first-output"
    (left,) = await store.recent_turns(CHANNEL, 10)
    assert left.job_id == first and left.outputs == (first_out,)

    again = await store.delete_result(second)
    assert (again.turns, again.blobs) == (0, 0)
    with pytest.raises(JobNotFound):
        await store.delete_result(999)


async def test_deleting_a_result_keeps_an_image_another_job_shares(store: Store) -> None:
    shared = await store.put_blob(b"the-same-bytes", "image/png")
    mine = await _done_job_with_turn(store, inputs=(), outputs=(shared,))
    theirs = await store.create_job(
        kind="edit",
        guild_id=1,
        channel_id=99,
        user_id=7,
        prompt="q",
        params={"model": "m", "inputs": [shared.sha256]},
    )
    deleted = await store.delete_result(mine)
    assert (deleted.turns, deleted.blobs) == (1, 0)
    assert await store.get_blob(shared.sha256) == b"the-same-bytes"
    assert (await store.get_job(theirs.id)).params["inputs"] == [shared.sha256]
    assert await store.recent_turns(CHANNEL, 10) == []


async def test_deleting_a_result_keeps_an_image_put_again_since(
    open_db: OpenDB, clock: Clock
) -> None:
    # Another job put the same bytes after this one finished and is about to refer to them.
    store = await open_db(blob_grace=3600)
    image = await store.put_blob(b"popular", "image/png")
    mine = await _done_job_with_turn(store, inputs=(), outputs=(image,))
    clock.advance(10)
    await store.put_blob(b"popular", "image/png")
    deleted = await store.delete_result(mine)
    assert deleted.blobs == 0
    assert await store.get_blob(image.sha256) == b"popular"
