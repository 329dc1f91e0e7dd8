"""What ``Store``'s docstrings promise, checked on every driver: errors, idempotence, order."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from bot.errors import ImagineError
from bot.storage import (
    DEFAULT_OWNER,
    BlobNotFound,
    InvalidSetting,
    InvalidValue,
    JobFenced,
    JobNotFound,
    StorageError,
    Store,
    StoredImage,
    TurnRecord,
)
from tests.storage.conftest import OpenDB
from tests.storage.drivers import Probe
from tests.storage.helpers import Clock

GHOST = "0" * 64


def turn(prompt: str, channel: int, outputs: tuple[StoredImage, ...] = ()) -> TurnRecord:
    return TurnRecord(channel_id=channel, guild_id=1, user_id=2, prompt=prompt, outputs=outputs)


async def job(store: Store, prompt: str = "p", **kwargs) -> int:
    made = await store.create_job(
        kind="imagine", guild_id=1, channel_id=3, user_id=2, prompt=prompt, params={}, **kwargs
    )
    return made.id


# typed errors


async def test_an_unknown_blob_is_blob_not_found_with_its_digest(store: Store) -> None:
    for read in (store.get_blob, store.blob_info):
        with pytest.raises(BlobNotFound) as info:
            await read(GHOST)
        err = info.value
        assert isinstance(err, KeyError) and isinstance(err, StorageError)
        assert isinstance(err, ImagineError)
        assert err.sha256 == GHOST and err.shas == (GHOST,)
        # A sentence, not KeyError's quoted repr.
        assert str(err) == "An image this needs is no longer stored; it may have expired."


async def test_a_turn_naming_unstored_blobs_names_every_missing_one(store: Store) -> None:
    real = await store.put_blob(b"real", "image/png")
    ghosts = (StoredImage("e" * 64, "image/png"), StoredImage("f" * 64, "image/png"))
    with pytest.raises(BlobNotFound, match="never stored") as info:
        await store.append_turn(turn("p", 1, (ghosts[0], real, ghosts[1])), keep=5)
    assert info.value.shas == ("e" * 64, "f" * 64)
    assert await store.recent_turns(1, 5) == []


async def test_an_unknown_job_is_job_not_found_with_its_id(store: Store) -> None:
    with pytest.raises(JobNotFound) as info:
        await store.update_job(404, state="done")
    assert info.value.job_id == 404 and isinstance(info.value, KeyError)
    assert str(info.value) == "That job is no longer stored; it may have expired."
    assert await store.get_job(404) is None


async def test_refusals_are_value_errors_and_change_nothing(store: Store) -> None:
    job_id = await job(store)
    with pytest.raises(InvalidSetting, match="history_turns") as info:
        await store.update_settings(1, history_turns=99)
    assert isinstance(info.value, ValueError) and isinstance(info.value, StorageError)
    with pytest.raises(InvalidValue, match="unknown job field"):
        await store.update_job(job_id, state="done", owner="someone-else")
    assert (await store.get_job(job_id)).state == "queued"
    with pytest.raises(InvalidValue, match="params"):
        await store.create_job(
            kind="imagine", guild_id=1, channel_id=3, user_id=2, prompt="p", params=["x"]
        )
    with pytest.raises(InvalidValue):
        await store.create_job(
            kind="imagine", guild_id=1, channel_id=3, user_id=2, prompt="p", params={"o": object()}
        )
    with pytest.raises(InvalidValue, match="channel_id"):
        await store.create_job(
            kind="imagine", guild_id=1, channel_id="3", user_id=2, prompt="p", params={}
        )
    assert (await store.get_job(job_id)).state == "queued"  # queued jobs are not interrupted
    await store.update_job(job_id, state="running")
    assert [j.id for j in await store.interrupt_running_jobs(DEFAULT_OWNER)] == [job_id]


# content-addressed blobs


async def test_put_blob_is_idempotent_and_keeps_the_first_mime(store: Store, probe: Probe) -> None:
    first = await store.put_blob(b"same bytes", "image/png", 4, 3)
    again = await store.put_blob(bytearray(b"same bytes"), "image/webp", 8, 6)
    assert (
        first == again == StoredImage(hashlib.sha256(b"same bytes").hexdigest(), "image/png", 4, 3)
    )
    assert await store.blob_info(first.sha256) == first
    assert await probe.blob_shas() == {first.sha256}


async def test_put_blob_refuses_what_is_not_an_image_row(store: Store, probe: Probe) -> None:
    with pytest.raises(TypeError):
        await store.put_blob("text", "image/png")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue, match="mime"):
        await store.put_blob(b"x", "")
    with pytest.raises(InvalidValue, match="negative"):
        await store.put_blob(b"x", "image/png", -1, 2)
    assert await probe.blob_shas() == set()


async def test_put_blob_takes_a_digest_the_caller_already_has(store: Store, probe: Probe) -> None:
    """A worker hashed the bytes while parsing: the store keeps them under that digest."""
    sha = hashlib.sha256(b"parsed bytes").hexdigest()
    ref = await store.put_blob(b"parsed bytes", "image/png", 2, 2, sha256=sha)
    assert ref == StoredImage(sha, "image/png", 2, 2)
    assert await store.get_blob(sha) == b"parsed bytes"
    with pytest.raises(InvalidValue, match="digest"):
        await store.put_blob(b"x", "image/png", sha256=sha.upper())
    assert await probe.blob_shas() == {sha}


async def test_putting_a_blob_again_restarts_its_grace(open_db: OpenDB, clock: Clock) -> None:
    store = await open_db(blob_grace=600)
    ref = await store.put_blob(b"orphan for now", "image/png")
    clock.advance(500)
    await store.put_blob(b"orphan for now", "image/png")  # a new job is about to use it
    clock.advance(500)
    assert await store.collect_garbage() == 0
    clock.advance(101)
    assert await store.collect_garbage() == 1
    with pytest.raises(BlobNotFound):
        await store.get_blob(ref.sha256)


# history order


async def test_turn_ids_grow_across_channels_and_each_channel_reads_its_own(store: Store) -> None:
    ids = [await store.append_turn(turn(f"{c}{i}", c), keep=10) for i in range(3) for c in (1, 2)]
    assert ids == sorted(ids) and len(set(ids)) == 6
    assert [t.prompt for t in await store.recent_turns(1, 10)] == ["10", "11", "12"]
    assert [t.prompt for t in await store.recent_turns(2, 2)] == ["21", "22"]
    assert [t.id for t in await store.recent_turns(2, 10)] == ids[1::2]
    with pytest.raises(InvalidValue):
        await store.recent_turns(1, "3")  # type: ignore[arg-type]


# jobs


async def test_started_at_is_stamped_once_and_given_times_win(store: Store, clock: Clock) -> None:
    job_id = await job(store)
    first = await store.update_job(job_id, state="running")
    clock.advance(5)
    again = await store.update_job(job_id, state="running")
    assert again.started_at == first.started_at == clock.now - 5
    done = await store.update_job(job_id, state="done", finished_at=123.0)
    assert done.finished_at == 123.0
    assert (await store.update_job(job_id)).state == "done"  # no change: the job as it is


async def test_expiry_goes_by_finish_time_and_spares_unfinished_jobs(
    store: Store, clock: Clock
) -> None:
    queued, finished_late = await job(store, "queued"), await job(store, "late")
    clock.advance(10 * 86400)
    await store.update_job(finished_late, state="failed")  # created long ago, finished now
    assert await store.delete_jobs_before(clock.now - 86400) == 0
    assert await store.delete_jobs_before(clock.now + 1) == 1
    assert await store.get_job(finished_late) is None
    assert (await store.get_job(queued)).state == "queued"
    with pytest.raises(InvalidValue):
        await store.delete_jobs_before(clock.now, batch=0)


# ownership


async def test_a_start_up_interrupts_only_its_own_instance_s_jobs(
    open_db: OpenDB, clock: Clock
) -> None:
    # Two processes share one database; "blue" restarts while "green" keeps running.
    blue, green = await open_db(), await open_db()
    mine = await job(blue, "blue's", owner="blue")
    theirs = await job(green, "green's", owner="green")
    legacy = await job(blue, "no owner given")
    for store, job_id in ((blue, mine), (green, theirs), (blue, legacy)):
        await store.update_job(job_id, state="running")
    await blue.close()

    blue = await open_db()
    interrupted = await blue.interrupt_running_jobs("blue")
    assert [(j.id, j.owner, j.state) for j in interrupted] == [(mine, "blue", "interrupted")]
    still = await green.get_job(theirs)
    assert (still.state, still.owner, still.finished_at) == ("running", "green", None)
    assert (await blue.get_job(legacy)).owner == DEFAULT_OWNER
    assert [j.id for j in await blue.interrupt_running_jobs(DEFAULT_OWNER)] == [legacy]
    assert await blue.interrupt_running_jobs("blue") == []


async def test_interrupting_with_queued_takes_the_owners_waiting_jobs_too(
    store: Store, clock: Clock
) -> None:
    # A dead owner's line cannot resume elsewhere: its reaper reports the waiting jobs too.
    running, waiting = (
        await job(store, "running", owner="blue"),
        await job(store, "waiting", owner="blue"),
    )
    other = await job(store, "green's", owner="green")
    done = await job(store, "done", owner="blue")
    await store.update_job(running, state="running")
    await store.update_job(done, state="done")
    clock.advance(5)
    interrupted = await store.interrupt_running_jobs("blue", queued=True)
    assert [(j.id, j.state, j.counted, j.finished_at) for j in interrupted] == [
        (running, "interrupted", False, clock()),
        (waiting, "interrupted", False, clock()),
    ]
    assert (await store.get_job(other)).state == "queued"
    assert (await store.get_job(done)).state == "done"
    assert await store.interrupt_running_jobs("blue", queued=True) == []
    with pytest.raises(InvalidValue, match="queued"):
        await store.interrupt_running_jobs("green", queued="yes")  # type: ignore[arg-type]
    assert (await store.get_job(other)).state == "queued"


async def test_adopting_moves_only_the_owners_queued_jobs_once(store: Store) -> None:
    # A survivor takes a dead owner's line: the queued rows become its own, by id; a
    # second survivor asking after it finds none (the UPDATE's WHERE is the fence).
    running = await job(store, "running", owner="blue")
    first, second = await job(store, "a", owner="blue"), await job(store, "b", owner="blue")
    other = await job(store, "green's", owner="green")
    await store.update_job(running, state="running")
    adopted = await store.adopt_queued_jobs("blue", "red")
    assert [(j.id, j.owner, j.state) for j in adopted] == [
        (first, "red", "queued"),
        (second, "red", "queued"),
    ]
    assert await store.adopt_queued_jobs("blue", "green") == []
    assert [(await store.get_job(i)).owner for i in (running, other)] == ["blue", "green"]
    assert (await store.get_job(running)).state == "running"
    with pytest.raises(InvalidValue, match="owner"):
        await store.adopt_queued_jobs("red", "two words")


@pytest.mark.parametrize("owner", ["", "two words", "x" * 65, "ünïcode", None])
async def test_an_owner_outside_the_pattern_is_refused(store: Store, owner: object) -> None:
    with pytest.raises(InvalidValue, match="owner"):
        await job(store, owner=owner)
    with pytest.raises(InvalidValue, match="owner"):
        await store.interrupt_running_jobs(owner)  # type: ignore[arg-type]
    assert await store.count_jobs(guild_id=None, user_id=None, since=0) == 0


# fenced updates: a process that lost its lease cannot overwrite the survivor


async def test_a_fenced_update_applies_while_the_job_is_the_owner_s(
    store: Store, clock: Clock
) -> None:
    job_id = await job(store, owner="blue:1a2b3c4d")
    running = await store.update_job(job_id, state="running", fence_owner="blue:1a2b3c4d")
    assert (running.state, running.started_at, running.owner) == (
        "running",
        clock.now,
        "blue:1a2b3c4d",
    )
    done = await store.update_job(
        job_id, fence_owner="blue:1a2b3c4d", state="done", result={"text": "ok"}
    )
    assert (done.state, done.result) == ("done", {"text": "ok"})


async def test_a_fenced_update_of_another_owner_s_job_changes_nothing(store: Store) -> None:
    job_id = await job(store, owner="green:2")
    await store.update_job(job_id, state="running")
    before = await store.get_job(job_id)
    with pytest.raises(JobFenced) as info:
        await store.update_job(job_id, fence_owner="blue:1", state="done", result={"x": 1})
    err = info.value
    assert isinstance(err, StorageError) and not isinstance(err, (KeyError, ValueError))
    assert (err.job_id, err.owner, err.state) == (job_id, "green:2", "running")
    assert str(err) == (
        f"job {job_id} was left unchanged: it is running and owned by 'green:2', not an "
        "unfinished job of 'blue:1' (another process took it over, or it finished)"
    )
    assert await store.get_job(job_id) == before
    with pytest.raises(JobFenced):  # a fence with no change is a check all the same
        await store.update_job(job_id, fence_owner="blue:1")


async def test_a_fenced_update_of_a_finished_job_changes_nothing(store: Store) -> None:
    job_id = await job(store, owner="blue:1")
    await store.update_job(job_id, state="interrupted", result={"by": "the survivor"})
    with pytest.raises(JobFenced, match="it is interrupted"):
        await store.update_job(job_id, fence_owner="blue:1", state="done", result={})
    after = await store.get_job(job_id)
    assert (after.state, after.result) == ("interrupted", {"by": "the survivor"})
    # Unfenced updates (the survivor's own, a start-up's) still apply.
    assert (await store.update_job(job_id, message_id=5)).message_id == 5


async def test_a_fence_names_a_real_job_and_a_valid_owner(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.update_job(404, fence_owner="blue:1", state="done")
    job_id = await job(store)
    with pytest.raises(InvalidValue, match="owner"):
        await store.update_job(job_id, fence_owner="two words", state="done")
    assert (await store.get_job(job_id)).state == "queued"


# settings keys


async def test_rotating_keys_is_all_or_nothing(store: Store) -> None:
    await store.update_settings(1, gateway_key_encrypted=b"old-1")
    await store.update_settings(2, gateway_key_encrypted=b"old-2")
    await store.update_settings(3, history_turns=2)  # no key: rotate never sees it
    seen: list[bytes] = []

    def rotate(key: bytes) -> bytes | None:
        seen.append(key)
        return None if key == b"old-2" else b"new-" + key

    assert await store.rotate_gateway_keys(rotate) == 1
    assert sorted(seen) == [b"old-1", b"old-2"]
    assert (await store.get_settings(1)).gateway_key_encrypted == b"new-old-1"
    assert (await store.get_settings(2)).gateway_key_encrypted == b"old-2"

    def half_broken(key: bytes) -> bytes | None:
        return b"newer" if key == b"new-old-1" else "plaintext"  # type: ignore[return-value]

    with pytest.raises(InvalidSetting, match="gateway_key_encrypted"):
        await store.rotate_gateway_keys(half_broken)
    assert (await store.get_settings(1)).gateway_key_encrypted == b"new-old-1"
    assert (await store.get_settings(2)).gateway_key_encrypted == b"old-2"


async def test_close_twice_is_harmless(open_db: OpenDB) -> None:
    store = await open_db()
    await store.close()
    await store.close()


# the bot's bookkeeping


async def test_meta_round_trips_overwrites_and_removes(open_db: OpenDB) -> None:
    first = await open_db()
    assert await first.get_meta("commands") is None
    await first.set_meta("commands", "abc")
    await first.set_meta("commands", "def")
    await first.set_meta("other", "")
    # Another connection to the same database (a restart) reads what was written.
    second = await open_db()
    assert await second.get_meta("commands") == "def"
    assert await second.get_meta("other") == ""
    await second.set_meta("commands", None)
    assert await first.get_meta("commands") is None
    await second.set_meta("commands", None)  # removing what is gone is harmless


@pytest.mark.parametrize(
    ("key", "value"), [("", "v"), ("k" * 101, "v"), (3, "v"), ("k", 3), ("k", "v" * 10_001)]
)
async def test_meta_refuses_bad_keys_and_values(store: Store, key: object, value: object) -> None:
    with pytest.raises(InvalidValue):
        await store.set_meta(key, value)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        await store.get_meta("")


# NUL: PostgreSQL refuses it in text and jsonb; every driver stores U+FFFD instead


async def test_nul_in_stored_text_becomes_the_replacement_character(store: Store) -> None:
    image = await store.put_blob(b"\x89PNG nul", "image/png\x00x", 1, 1)
    assert image.mime == "image/png\ufffdx"
    raw = {"parts": [{"text": "a\x00b"}, {"$blob": image.sha256}], "k\x00": ["\x00"]}
    await store.append_turn(
        TurnRecord(
            channel_id=9,
            guild_id=1,
            user_id=2,
            prompt="cat\x00dog",
            outputs=(image,),
            model_text="here\x00it is",
            raw_turn=raw,
        ),
        keep=5,
    )
    [stored] = await store.recent_turns(9, 5)
    assert (stored.prompt, stored.model_text) == ("cat\ufffddog", "here\ufffdit is")
    assert stored.raw_turn == {
        "parts": [{"text": "a\ufffdb"}, {"$blob": image.sha256}],
        "k\ufffd": ["\ufffd"],
    }
    assert raw["k\x00"] == ["\x00"]  # the caller's document is not changed

    made = await store.create_job(
        kind="imagine\x00",
        guild_id=1,
        channel_id=3,
        user_id=2,
        prompt="p\x00",
        params={"model": "m\x00", "inputs": [image.sha256]},
        interaction_token="t\x00",
    )
    assert (made.kind, made.prompt, made.interaction_token) == (
        "imagine\ufffd",
        "p\ufffd",
        "t\ufffd",
    )
    assert made.params == {"model": "m\ufffd", "inputs": [image.sha256]}
    done = await store.update_job(made.id, state="done", result={"text": "no\x00image"})
    assert done.result == {"text": "no\ufffdimage"}
    assert await store.get_job(made.id) == done

    await store.set_meta("key\x00", "value\x00")
    assert await store.get_meta("key\x00") == "value\ufffd"
    assert await store.get_meta("key\ufffd") == "value\ufffd"
    await store.record_size_check(
        gateway="gw\x00",
        model="m\x00",
        dialect="openai",
        asked="2K\x00",
        delivered="1K",
        size_honoured=False,
        ratio_honoured=None,
    )
    [seen] = await store.size_checks("gw\x00", "m\x00")
    assert (seen.gateway, seen.model, seen.asked) == ("gw\ufffd", "m\ufffd", "2K\ufffd")


@pytest.mark.parametrize(
    "changes",
    [
        {"model": "gemini\x00"},
        {"gateway_base_url": "https://a.example/\x00"},
        {"image_size": "\x00"},
    ],
)
async def test_a_setting_with_nul_is_refused_on_every_driver(store: Store, changes: dict) -> None:
    with pytest.raises(InvalidSetting):
        await store.update_settings(1, **changes)
    assert dataclasses.replace(await store.get_settings(1), guild_id=2) == await store.get_settings(
        2
    )
