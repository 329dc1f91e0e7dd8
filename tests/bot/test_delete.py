"""The **Delete** button: who may press it, what crosses the wire, what leaves the store.

Run on SQLite and on a real PostgreSQL: the images only the result used must be gone
from either, and an image another job shares must stay.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot.discord_bot.removal import DELETED, NOT_YOURS
from bot.i18n import render
from bot.jobs import NO_LATEST_IMAGE
from bot.storage import BlobNotFound
from bot.workers import CpuPool
from tests.bot.helpers import button
from tests.fakes.discord import FakeDiscord, InteractionState
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes
from tests.harness import BotHarness, make_settings

CAT = png_bytes(30, 30, (250, 200, 0))
BLUE_CAT = png_bytes(30, 30, (0, 0, 250))
RED_CAT = png_bytes(30, 30, (250, 0, 0))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
async def bot_on(
    fakes: tuple[FakeDiscord, FakeGateway], tmp_path: Path, cpu_pool: CpuPool, database_url: str
) -> AsyncIterator[BotHarness]:
    fake, gw = fakes
    settings = replace(make_settings(fake, gw, tmp_path / "bot.db"), database_url=database_url)
    harness = BotHarness(fake, gw, settings, cpu_pool)
    await harness.start()
    try:
        yield harness
    finally:
        await harness.stop()


async def _ephemeral_followup(h: BotHarness, st: InteractionState) -> str:
    await h.fake.wait_until(lambda: st.followups, what="a follow-up")
    (answer,) = st.followups
    assert answer.ephemeral
    return answer.content


async def test_the_asker_deletes_the_latest_edit_and_the_next_edit_goes_on_from_before(
    bot_on: BotHarness,
) -> None:
    h = bot_on
    asker = await h.fake.member(name="asker")
    h.gw.script(
        Reply(body=images_response([CAT])),
        Reply(body=images_response([BLUE_CAT])),
        Reply(body=images_response([RED_CAT])),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, member=asker))
    edited = await h.result(await h.fake.slash("edit", {"prompt": "make it blue"}, member=asker))
    message = edited.original
    (cat_sha,) = (await h.store.get_job(1)).result["outputs"]
    (blue_sha,) = (await h.store.get_job(2)).result["outputs"]
    assert (await h.store.get_job(2)).params["inputs"] == [cat_sha]  # the image both use

    # Someone else may not.
    other = await h.fake.click(message, button(message, "delete"))
    await h.fake.wait_for_interaction_reply(other)
    assert other.callback_type == 4
    assert other.original.ephemeral and other.original.content == render(NOT_YOURS)
    assert message.id in h.fake.messages
    assert not h.fake.find("DELETE *")

    pressed = await h.fake.click(message, button(message, "delete"), member=asker)
    assert await _ephemeral_followup(h, pressed) == render(DELETED)
    assert pressed.callback_type == 6  # nothing changed on screen before the delete
    (gone,) = h.fake.find("DELETE *")
    assert gone.path.endswith(f"/{pressed.token}/messages/@original") and gone.status == 204
    assert message.id not in h.fake.messages

    with pytest.raises(BlobNotFound):
        await h.store.get_blob(blue_sha)
    assert await h.store.get_blob(cat_sha) == CAT  # the first job's, shared: it stays
    job = await h.store.get_job(2)
    assert job.result == {"deleted": True} and job.params["inputs"] == []
    assert job.counted  # a deleted result still counts toward the quotas

    # The chain's latest is the cat again: the next /edit edits it, not the deleted image.
    again = await h.result(await h.fake.slash("edit", {"prompt": "make it red"}, member=asker))
    assert h.gw.requests[2].images == [CAT]
    assert again.original.files[0][1] == RED_CAT


async def test_a_moderator_deletes_anyones_result_and_an_only_image_leaves_the_chain_empty(
    bot_on: BotHarness,
) -> None:
    h = bot_on
    moderator = await h.fake.member(discord.Permissions(manage_messages=True), name="mod")
    h.gw.script(Reply(body=images_response([CAT])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    (cat_sha,) = (await h.store.get_job(1)).result["outputs"]

    pressed = await h.fake.click(st.original, button(st.original, "delete"), member=moderator)
    assert await _ephemeral_followup(h, pressed) == render(DELETED)
    assert st.original.id not in h.fake.messages
    with pytest.raises(BlobNotFound):
        await h.store.get_blob(cat_sha)

    nothing = await h.result(await h.fake.slash("edit", {"prompt": "make it blue"}))
    assert nothing.last_message.content.startswith(render(NO_LATEST_IMAGE))
    assert len(h.gw.requests) == 1  # nothing was sent to the gateway for it
