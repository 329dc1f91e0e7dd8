"""The reference library (``/ref``) on every driver: names, scopes, limits, and blobs kept."""

from __future__ import annotations

import pytest

from bot.storage import BlobNotFound, InvalidValue, Store, StoredImage, TurnRecord
from bot.storage.base import ReferenceImage
from bot.storage.errors import ReferenceExists, TooManyReferences
from tests.storage.conftest import OpenDB
from tests.storage.drivers import Probe
from tests.storage.helpers import Clock

GUILD, MEMBER, OTHER = 10, 42, 43


async def _image(store: Store, data: bytes = b"a reference image") -> StoredImage:
    return await store.put_blob(data, "image/png", 16, 8)


async def _add(
    store: Store, name: str, image: StoredImage, *, scope: str = "member", limit: int = 25
) -> ReferenceImage:
    owner = MEMBER if scope == "member" else GUILD
    return await store.add_reference(
        scope=scope, owner_id=owner, name=name, sha256=image.sha256, added_by=MEMBER, limit=limit
    )


async def test_a_reference_is_stored_lower_case_and_listed_by_name(
    store: Store, open_db: OpenDB, clock: Clock
) -> None:
    cat, dog = await _image(store, b"cat"), await _image(store, b"dog")
    added = await _add(store, "Whiskers", cat)
    assert added == ReferenceImage(
        scope="member",
        owner_id=MEMBER,
        name="whiskers",
        image=StoredImage(cat.sha256, "image/png", 16, 8),
        added_by=MEMBER,
        created_at=clock.now,
    )
    await _add(store, "a-dog_2", dog)
    again = await open_db()
    listed = await again.list_references(scope="member", owner_id=MEMBER)
    assert [r.name for r in listed] == ["a-dog_2", "whiskers"]
    assert await again.list_references(scope="member", owner_id=OTHER) == []
    assert await again.list_references(scope="server", owner_id=MEMBER) == []


async def test_a_name_taken_is_refused_whatever_its_case_and_the_first_stays(
    store: Store,
) -> None:
    first, second = await _image(store, b"one"), await _image(store, b"two")
    await _add(store, "rex", first)
    with pytest.raises(ReferenceExists, match="named rex"):
        await _add(store, "REX", second)
    [kept] = await store.list_references(scope="member", owner_id=MEMBER)
    assert kept.image.sha256 == first.sha256
    # The same name in another scope is another reference.
    assert (await _add(store, "rex", second, scope="server")).owner_id == GUILD


async def test_the_limit_is_checked_in_the_add(store: Store) -> None:
    image = await _image(store)
    await _add(store, "one", image, limit=2)
    await _add(store, "two", image, limit=2)
    with pytest.raises(TooManyReferences):
        await _add(store, "three", image, limit=2)
    assert len(await store.list_references(scope="member", owner_id=MEMBER)) == 2
    assert await store.remove_reference(scope="member", owner_id=MEMBER, name="One")
    assert (await _add(store, "three", image, limit=2)).name == "three"


@pytest.mark.parametrize("name", ["", "two words", "x" * 33, "émile", "a.b", "<@123>", None])
async def test_names_outside_the_rule_are_refused(store: Store, name: object) -> None:
    image = await _image(store)
    with pytest.raises(InvalidValue):
        await _add(store, name, image)  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        await store.resolve_references(guild_id=GUILD, user_id=MEMBER, names=[name])  # type: ignore[list-item]
    assert await store.list_references(scope="member", owner_id=MEMBER) == []


async def test_a_scope_outside_member_and_server_is_refused(store: Store) -> None:
    image = await _image(store)
    with pytest.raises(InvalidValue):
        await _add(store, "rex", image, scope="channel")


async def test_an_image_never_put_is_blob_not_found(store: Store) -> None:
    with pytest.raises(BlobNotFound):
        await store.add_reference(
            scope="member", owner_id=MEMBER, name="rex", sha256="0" * 64, added_by=1, limit=5
        )


async def test_resolving_takes_the_member_s_own_before_the_server_s(store: Store) -> None:
    mine, theirs, logo = [await _image(store, d) for d in (b"mine", b"theirs", b"logo")]
    await _add(store, "rex", mine)
    await _add(store, "rex", theirs, scope="server")
    await _add(store, "logo", logo, scope="server")
    found = await store.resolve_references(
        guild_id=GUILD, user_id=MEMBER, names=["REX", "logo", "nothing"]
    )
    assert {n: (r.scope, r.image.sha256) for n, r in found.items()} == {
        "rex": ("member", mine.sha256),
        "logo": ("server", logo.sha256),
    }
    # Another member of the server gets the server's; the member's own follow them anywhere.
    other = await store.resolve_references(guild_id=GUILD, user_id=OTHER, names=["rex"])
    assert other["rex"].image.sha256 == theirs.sha256
    elsewhere = await store.resolve_references(guild_id=99, user_id=MEMBER, names=["rex", "logo"])
    assert {n: r.scope for n, r in elsewhere.items()} == {"rex": "member"}
    assert await store.resolve_references(guild_id=GUILD, user_id=MEMBER, names=[]) == {}


async def test_removing_is_per_scope_and_says_whether_there_was_one(store: Store) -> None:
    image = await _image(store)
    await _add(store, "rex", image)
    await _add(store, "rex", image, scope="server")
    assert await store.remove_reference(scope="server", owner_id=GUILD, name="rex")
    assert not await store.remove_reference(scope="server", owner_id=GUILD, name="rex")
    assert [r.scope for r in await store.list_references(scope="member", owner_id=MEMBER)] == [
        "member"
    ]


async def test_a_reference_keeps_its_blob_through_expiry_resets_and_deletes(
    store: Store, probe: Probe, clock: Clock
) -> None:
    image = await _image(store)
    await _add(store, "rex", image)
    # The same image used by a job and a turn that then all go.
    await store.append_turn(
        TurnRecord(channel_id=5, guild_id=GUILD, user_id=MEMBER, prompt="p", inputs=(image,)),
        keep=5,
    )
    job = await store.create_job(
        kind="imagine",
        guild_id=GUILD,
        channel_id=5,
        user_id=MEMBER,
        prompt="p",
        params={"inputs": [image.sha256]},
    )
    await store.update_job(job.id, state="done")
    await store.delete_result(job.id)
    await store.reset_history(5)
    clock.advance(86400)
    assert await store.delete_jobs_before(clock.now) == 1
    assert await store.collect_garbage() == 0
    assert await store.get_blob(image.sha256) == b"a reference image"
    assert image.sha256 in await probe.blob_shas()
    # Once the reference is removed, the sweep takes the blob.
    await store.remove_reference(scope="member", owner_id=MEMBER, name="rex")
    assert await store.collect_garbage() == 1
    assert await probe.blob_shas() == set()
    assert await probe.problems() == []
