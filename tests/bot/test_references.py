"""/ref and [name] in prompts, end to end: what is stored, and what reaches the gateway."""

from __future__ import annotations

import base64
import time

import discord
import pytest

from bot.i18n import render
from bot.jobs.reference_names import named, prompt_with_references
from bot.jobs.spec import Reference
from bot.limits import MAX_MEMBER_REFERENCES, MAX_REFERENCES_FLASH_25
from bot.storage import BlobNotFound, open_store
from bot.storage.base import ReferenceImage
from cogs.references import NOT_ADMIN_REFS
from tests.fakes.discord import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

REX = png_bytes(24, 16, (200, 10, 10))
LOGO = png_bytes(18, 18, (10, 10, 200))
SERVER_REX = png_bytes(30, 12, (10, 200, 10))
ATTACHED = png_bytes(20, 20, (90, 90, 90))
RESULT = png_bytes(32, 32, (1, 2, 3))
RESULT2 = png_bytes(32, 32, (3, 2, 1))


async def _answer(h: BotHarness, it: InteractionState) -> str:
    """The private answer (a reply, or the follow-up of a deferred one)."""
    st = await h.fake.interaction_result(
        it, lambda s: bool(s.followups) or (s.original is not None and not s.original.loading)
    )
    msg = st.followups[-1] if st.followups else st.original
    assert msg.ephemeral
    return msg.content


def _sent(request: object) -> tuple[str, list[bytes]]:
    """The prompt text and the images, decoded from their data: URIs in the body, in order."""
    text, *parts = request.json["messages"][-1]["content"]  # type: ignore[attr-defined]
    images = []
    for part in parts:
        head, _, data = part["image_url"]["url"].partition(",")
        assert head == "data:image/png;base64"
        images.append(base64.b64decode(data))
    return text["text"], images


async def _refs(h: BotHarness, user_id: int, names: list[str]) -> dict[str, ReferenceImage]:
    return dict(await h.store.resolve_references(guild_id=h.guild_id, user_id=user_id, names=names))


async def test_a_named_reference_goes_to_the_gateway_as_the_stored_image(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="owner-of-rex")
    user_id = int(me["user"]["id"])
    added = await h.fake.slash("ref add", {"name": "Rex", "image": ("rex.png", REX)}, member=me)
    assert await _answer(h, added) == (
        "Saved [rex] (24×16) in your references. Write [name] in a prompt of /imagine, /edit "
        "or /blend to add that image; yours come before the server's of the same name."
    )
    stored = (await _refs(h, user_id, ["rex"]))["rex"]
    assert await h.store.get_blob(stored.image.sha256) == REX
    await _answer(h, await h.fake.slash("ref add", {"name": "logo", "image": LOGO}, member=me))

    h.gw.script(Reply(body=images_response([RESULT])))
    st = await h.result(
        await h.fake.slash(
            "imagine",
            {"prompt": "[logo] on a mug held by [REX]", "image": ("a.png", ATTACHED)},
            member=me,
        )
    )
    (req,) = h.gw.requests
    text, images = _sent(req)
    # The attachment first, then the references in the order the prompt names them.
    assert images == [ATTACHED, LOGO, REX]
    assert text == "logo (image 2) on a mug held by REX (image 3)"
    # The member's words stay the job's.
    assert st.original.content.startswith("**Imagine** · [logo] on a mug held by [REX]")

    # A reroll sends the same images again, without naming them twice.
    job_id = int(
        next(i for i in st.original.custom_ids() if i.startswith("imagine:reroll:")).rsplit(":")[-1]
    )
    h.gw.script(Reply(body=images_response([RESULT2])))
    await h.result(await h.fake.click(st.original, f"imagine:reroll:{job_id}"))
    assert _sent(h.gw.requests[1]) == (text, [ATTACHED, LOGO, REX])


async def test_the_member_s_own_reference_wins_over_the_server_s(running_bot: BotHarness) -> None:
    h = running_bot
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    me = await h.fake.member(name="member")
    added = await h.fake.slash(
        "ref add",
        {"name": "rex", "image": ("s.png", SERVER_REX), "scope": "server"},
        member=admin,
    )
    assert (await _answer(h, added)).startswith("Saved [rex] (30×12) in this server's references.")
    await _answer(h, await h.fake.slash("ref add", {"name": "rex", "image": REX}, member=me))

    h.gw.script(*[Reply(body=images_response([RESULT])) for _ in range(2)])
    await h.result(await h.fake.slash("imagine", {"prompt": "[rex] in space"}, member=me))
    await h.result(await h.fake.slash("imagine", {"prompt": "[rex] in space"}, member=admin))
    assert [_sent(r)[1] for r in h.gw.requests] == [[REX], [SERVER_REX]]

    listed = await _answer(h, await h.fake.slash("ref list", member=me))
    assert listed.splitlines()[:2] == [
        f"**Yours** (in every server): [rex] (1 of {MAX_MEMBER_REFERENCES})",
        "**This server's**: [rex] (1 of 100)",
    ]


async def test_only_admins_add_server_references(running_bot: BotHarness) -> None:
    h = running_bot
    me = await h.fake.member(name="member")
    refused = await h.fake.slash(
        "ref add", {"name": "logo", "image": LOGO, "scope": "server"}, member=me
    )
    st = await h.fake.interaction_result(refused)
    assert st.original.content == render(NOT_ADMIN_REFS)
    assert render(NOT_ADMIN_REFS) == (
        "Only members with Manage Server can change this server's references: ask an admin, "
        "or leave scope: out to keep the image as your own."
    )
    assert await h.store.list_references(scope="server", owner_id=h.guild_id) == []
    assert not h.gw.requests


async def test_an_unknown_name_is_refused_with_the_names_there_are(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="member")
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "[rex] at the beach"}, member=me)
    )
    assert st.original.content == (
        "There is no reference image named [rex]: you and this server have none yet; "
        "add it with /ref add, or write the word without brackets."
    )
    await _answer(h, await h.fake.slash("ref add", {"name": "rex", "image": REX}, member=me))
    st = await h.fake.interaction_result(
        await h.fake.slash("edit", {"prompt": "put [rexx] in it", "image": ATTACHED}, member=me)
    )
    assert st.original.content == (
        "There is no reference image named [rexx] (yours: [rex]): check the name, or "
        "add it with /ref add, or write the word without brackets."
    )
    assert not h.gw.requests


async def test_duplicates_limits_and_removal_have_their_sentences(running_bot: BotHarness) -> None:
    h = running_bot
    me = await h.fake.member(name="collector")
    await _answer(h, await h.fake.slash("ref add", {"name": "rex", "image": REX}, member=me))
    again = await h.fake.slash("ref add", {"name": "REX", "image": LOGO}, member=me)
    assert await _answer(h, again) == (
        "You have a reference named [rex] already: remove it first with /ref remove "
        "name:rex, or pick another name."
    )
    user_id = int(me["user"]["id"])
    image = await h.store.put_blob(LOGO, "image/png", 18, 18)
    for n in range(MAX_MEMBER_REFERENCES - 1):
        await h.store.add_reference(
            scope="member",
            owner_id=user_id,
            name=f"r{n}",
            sha256=image.sha256,
            added_by=user_id,
            limit=MAX_MEMBER_REFERENCES,
        )
    full = await h.fake.slash("ref add", {"name": "one-more", "image": LOGO}, member=me)
    assert (await h.fake.interaction_result(full)).original.content == (
        f"You have {MAX_MEMBER_REFERENCES} reference images, the most a member may keep: "
        "use /ref remove to make room first."
    )
    gone = await h.fake.slash("ref remove", {"name": "rex"}, member=me)
    assert await _answer(h, gone) == "Removed [rex] from your references."
    missing = await h.fake.slash("ref remove", {"name": "rex"}, member=me)
    assert (await h.fake.interaction_result(missing)).original.content == (
        "You have no reference named [rex]; /ref list shows them."
    )


async def test_more_references_than_the_model_takes_are_refused(running_bot: BotHarness) -> None:
    h = running_bot
    me = await h.fake.member(name="member")
    names = [f"r{n}" for n in range(MAX_REFERENCES_FLASH_25 + 1)]
    for n, name in enumerate(names):
        image = png_bytes(10 + n, 10, (n, n, n))
        await _answer(h, await h.fake.slash("ref add", {"name": name, "image": image}, member=me))
    prompt = " and ".join(f"[{n}]" for n in names)
    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": prompt, "model": "gemini-2.5-flash-image"}, member=me
        )
    )
    assert st.original is not None
    text = st.followups[-1].content if st.followups else st.original.content
    assert text == (
        "gemini-2.5-flash-image takes at most 3 reference images and this asks for 4: use "
        "fewer images, or a Gemini 3 image model (e.g. gemini-3-pro-image-preview), which "
        "takes up to 14."
    )
    assert not h.gw.requests


async def test_references_survive_a_restart_and_job_expiry(running_bot: BotHarness) -> None:
    h = running_bot
    me = await h.fake.member(name="member")
    user_id = int(me["user"]["id"])
    await _answer(h, await h.fake.slash("ref add", {"name": "rex", "image": REX}, member=me))
    h.gw.script(Reply(body=images_response([RESULT])))
    await h.result(await h.fake.slash("imagine", {"prompt": "[rex] asleep"}, member=me))
    sha = (await _refs(h, user_id, ["rex"]))["rex"].image.sha256
    [job] = await h.store.list_jobs(user_id=user_id)
    assert job.params["inputs"] == [sha]  # the job held the reference's blob too
    [output] = job.result["outputs"]

    # Every job expires, the channel's history goes, and the sweep runs with no grace.
    sweeper = await open_store(h.settings.database_url, blob_grace=0)
    try:
        assert await sweeper.delete_jobs_before(time.time() + 1) == 1
        await sweeper.reset_history(int(h.fake.channel["id"]))
        await sweeper.collect_garbage()
        assert await sweeper.get_blob(sha) == REX
        # What only the job and the history held is gone: the sweep did run.
        with pytest.raises(BlobNotFound):
            await sweeper.get_blob(output)
    finally:
        await sweeper.close()

    await h.restart()
    h.gw.script(Reply(body=images_response([RESULT2])))
    await h.result(await h.fake.slash("imagine", {"prompt": "[rex] awake"}, member=me))
    assert _sent(h.gw.requests[-1]) == ("rex (image 1) awake", [REX])


async def test_an_edit_of_the_latest_image_keeps_it_first_and_the_reference_after(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="member")
    await _answer(h, await h.fake.slash("ref add", {"name": "hat", "image": LOGO}, member=me))
    h.gw.script(*[Reply(body=images_response([img])) for img in (RESULT, RESULT2)])
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, member=me))
    await h.result(await h.fake.slash("edit", {"prompt": "give it [hat]"}, member=me))
    text, images = _sent(h.gw.requests[1])
    assert images == [RESULT, LOGO] and text == "give it hat (image 2)"


def test_only_one_bracketed_word_names_a_reference() -> None:
    assert named("[Rex] and [a red car], [logo](https://x.example) [rex] [x_1-b]") == [
        "rex",
        "x_1-b",
    ]
    refs = (Reference("rex", "a" * 64), Reference("x_1-b", "b" * 64))
    assert prompt_with_references("[Rex], [rex] and [x_1-b]; [other]", refs, 3) == (
        "Rex (image 3), rex (image 3) and x_1-b (image 4); [other]"
    )
