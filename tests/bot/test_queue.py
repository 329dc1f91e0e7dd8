"""The queue and Cancel through the real bot, the fake Discord and the fake gateway."""

from __future__ import annotations

import asyncio

import discord

from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(24, 24, (5, 100, 200))


def _progress_of(st: object, h: BotHarness) -> list[str]:
    """Every progress text sent to an interaction's @original, in order."""
    token = st.token  # type: ignore[attr-defined]
    return [
        (r.json or {}).get("content") or ""
        for r in h.fake.find(lambda r: r.method == "PATCH" and token in r.path)
        if isinstance(r.json, dict) and r.status == 200
    ]


async def _sent(h: BotHarness, st: object, text: str) -> None:
    token = st.token  # type: ignore[attr-defined]
    await h.fake.wait_for(
        lambda r: (
            r.method == "PATCH"
            and token in r.path
            and isinstance(r.json, dict)
            and text in ((r.json or {}).get("content") or "")
        )
    )


async def _running(h: BotHarness) -> tuple[dict, object]:
    """A member's job whose answer the gateway holds, its Cancel button on screen."""
    h.gw.script(Reply(body=images_response([IMAGE]), hold=asyncio.Event()))
    asker = await h.fake.member(name="asker")
    it = await h.fake.slash("imagine", {"prompt": "slow"}, member=asker)
    await h.gw.wait_for_requests(1)
    await _sent(h, it, "Generating…")
    return asker, it


async def test_jobs_wait_in_line_and_show_their_place(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_concurrency=1)
    holds = [asyncio.Event() for _ in range(3)]
    h.gw.script(*(Reply(body=images_response([IMAGE]), hold=e) for e in holds))
    members = [await h.fake.member(name=f"m{n}") for n in range(3)]
    first = await h.fake.slash("imagine", {"prompt": "one"}, member=members[0])
    await h.gw.wait_for_requests(1)
    second = await h.fake.slash("imagine", {"prompt": "two"}, member=members[1])
    await _sent(h, second, "1st in line")
    third = await h.fake.slash("imagine", {"prompt": "three"}, member=members[2])
    await _sent(h, third, "2nd in line")
    holds[0].set()
    await h.result(first)
    await _sent(h, third, "1st in line")
    await h.gw.wait_for_requests(2)
    holds[1].set()
    await h.result(second)
    holds[2].set()
    done = await h.result(third)
    assert done.original.files[0][1] == IMAGE
    shown = [t for t in _progress_of(third, h) if "in line" in t or "Generating" in t]
    places = [t.split("Generating… ")[1].split(" ·")[0] for t in shown if "in line" in t]
    assert places == ["2nd in line", "1st in line"]
    assert "in line" not in shown[-1]  # back to the elapsed time once it started
    assert len(h.gw.requests) == 3


async def test_a_full_line_refuses_with_todays_sentence(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_concurrency=1, queue_limit=1)
    hold = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=hold))
    busy = await h.fake.slash("imagine", {"prompt": "one"}, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    waiting = await h.fake.slash("imagine", {"prompt": "two"}, member=await h.fake.member(name="b"))
    await _sent(h, waiting, "1st in line")
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "three"}, member=await h.fake.member(name="c"))
    )
    assert st.original.ephemeral
    assert st.original.content == (
        "This server already has 1 image generating; try again in a moment."
    )
    h.gw.script(Reply(body=images_response([IMAGE])))
    hold.set()
    await h.result(busy)
    await h.result(waiting)
    assert len(h.gw.requests) == 2


async def test_cancel_of_a_queued_job_never_reaches_the_gateway(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_concurrency=1)
    hold = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=hold))
    busy = await h.fake.slash("imagine", {"prompt": "one"}, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    asker = await h.fake.member(name="asker")
    waiting = await h.fake.slash("imagine", {"prompt": "two"}, member=asker)
    await _sent(h, waiting, "1st in line")
    press = await h.fake.click(waiting.original, "imagine:cancel:2", member=asker)
    await h.fake.wait_for_interaction_reply(press)
    await _sent(h, waiting, f"Cancelled by <@{asker['user']['id']}>.")
    job = await h.store.get_job(2)
    assert (
        job.state == "failed"
        and not job.counted
        and job.result["cancelled_by"] == int(asker["user"]["id"])
    )
    hold.set()
    await h.result(busy)
    assert len(h.gw.requests) == 1  # the cancelled job never went upstream


async def test_cancel_of_a_running_job_hangs_up_and_counts_nothing(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    asker, it = await _running(h)
    press = await h.fake.click(it.original, "imagine:cancel:1", member=asker)
    await h.fake.wait_for_interaction_reply(press)
    await _sent(h, it, f"Cancelled by <@{asker['user']['id']}>.")
    async with asyncio.timeout(30):  # the fake gateway notices the closed connection
        await h.gw.wait_for_hang_ups(1)
    assert h.gw.hung_up == h.gw.requests[:1]
    job = await h.store.get_job(1)
    assert job.state == "failed" and not job.counted
    assert await h.store.usage_summary(h.guild_id, 0) == []
    assert "imagine:cancel:" not in str(it.original.payload.get("components"))  # button gone


async def test_cancel_by_another_member_is_refused_and_an_admin_may(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    asker, it = await _running(h)
    other = await h.fake.click(
        it.original, "imagine:cancel:1", member=await h.fake.member(name="x")
    )
    refused = await h.fake.interaction_result(other)
    assert refused.original.ephemeral and refused.original.content.startswith(
        "Only the member who asked, or an admin, can cancel that."
    )
    assert (await h.store.get_job(1)).state == "running"
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    press = await h.fake.click(it.original, "imagine:cancel:1", member=admin)
    await h.fake.wait_for_interaction_reply(press)
    await _sent(h, it, f"Cancelled by <@{admin['user']['id']}>.")
    assert (await h.store.get_job(1)).state == "failed"


async def test_a_queued_job_goes_on_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, guild_concurrency=1)
    hold = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=hold))
    await h.fake.slash("imagine", {"prompt": "one"}, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    waiter = await h.fake.member(name="waiter")
    waiting = await h.fake.slash("imagine", {"prompt": "a kite"}, member=waiter)
    await _sent(h, waiting, "1st in line")
    h.gw.script(Reply(body=images_response([IMAGE])))
    await h.restart()  # the running job is interrupted; the waiting one is not
    posted = await h.channel_post()
    while "a kite" not in posted.content:  # the interrupted job's report comes first
        posted = await h.channel_post()
    # The member is mentioned once, then the result line as a live answer has it.
    assert posted.content.startswith(f"<@{waiter['user']['id']}> **Imagine** · a kite")
    assert posted.files[0][1] == IMAGE
    assert (await h.store.get_job(1)).state == "interrupted"
    job = await h.store.get_job(2)
    assert job.state == "done" and job.counted
    assert len(h.gw.requests) == 2  # the held one, and the waiting one after the restart


async def _waiting_through_a_restart(h: BotHarness, *, used_meanwhile: bool) -> dict:
    """A job held running and the member's job waiting behind it, within their daily
    quota of 1 image; ``used_meanwhile``: another of their jobs (one a second process on
    the same database ran) used that image while it waited. Then a restart."""
    await h.store.update_settings(h.guild_id, guild_concurrency=1, user_daily=1)
    h.gw.script(Reply(body=images_response([IMAGE]), hold=asyncio.Event()))
    await h.fake.slash("imagine", {"prompt": "one"}, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    waiter = await h.fake.member(name="waiter")
    waiting = await h.fake.slash("imagine", {"prompt": "a kite"}, member=waiter)
    await _sent(h, waiting, "1st in line")
    if used_meanwhile:
        elsewhere = await h.store.create_job(
            kind="imagine",
            guild_id=h.guild_id,
            channel_id=int(h.fake.channel["id"]),
            user_id=int(waiter["user"]["id"]),
            prompt="elsewhere",
            params={},
        )
        await h.store.update_job(elsewhere.id, state="done")
    h.gw.script(Reply(body=images_response([IMAGE])))
    await h.restart()
    return {"waiter": waiter, "token": waiting.token}  # type: ignore[attr-defined]


async def test_a_queued_job_whose_quota_ran_out_while_it_waited_is_refused_after_a_restart(
    running_bot: BotHarness,
) -> None:
    # A resumed job honours the member's quota like any other, with the same sentence,
    # posted as the other resume errors are; it never reaches the gateway.
    h = running_bot
    asked = await _waiting_through_a_restart(h, used_meanwhile=True)
    posted = await h.channel_post()
    while "a kite" not in posted.content:  # the interrupted job's report comes first
        posted = await h.channel_post()
    assert posted.content == (
        f"<@{asked['waiter']['user']['id']}> “a kite”: "
        "You have used your 1 images for today. Try again later."
    )
    assert not posted.files
    await h.stored()
    job = await h.store.get_job(2)
    assert job.state == "failed" and not job.counted  # never resumed again, counts nothing
    assert len(h.gw.requests) == 1
    edits = [
        (r.json or {}).get("content") or ""
        for r in h.fake.requests
        if r.method == "PATCH" and asked["token"] in r.path and isinstance(r.json, dict)
    ]
    assert not [e for e in edits if "goes on" in e]  # never told it goes on


async def test_a_queued_job_counts_itself_once_when_its_quota_is_checked_after_a_restart(
    running_bot: BotHarness,
) -> None:
    # Its own row is the one image of the member's day: it still runs.
    h = running_bot
    asked = await _waiting_through_a_restart(h, used_meanwhile=False)
    posted = await h.channel_post()
    while "a kite" not in posted.content:
        posted = await h.channel_post()
    assert posted.content.startswith(f"<@{asked['waiter']['user']['id']}>")
    assert posted.files[0][1] == IMAGE
    await h.stored()
    job = await h.store.get_job(2)
    assert job.state == "done" and job.counted
    assert len(h.gw.requests) == 2
