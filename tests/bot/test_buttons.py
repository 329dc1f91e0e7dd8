"""Persistent buttons (reroll chains, upscale), restarts, interrupted jobs, expired tokens."""

from __future__ import annotations

import asyncio

from tests.bot.helpers import button
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))
FOURTH = png_bytes(32, 32, (200, 200, 0))


async def test_reroll_button_works_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    reference = png_bytes(20, 20, (1, 1, 1))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a kite", "image": ("k.png", reference)})
    )
    result = st.original

    await h.restart()  # a new process: nothing in memory, same database
    clicked = await h.result(await h.fake.click(result, button(result, "reroll")))

    first, second = h.gw.requests
    assert second.json["messages"][-1]["content"][0]["text"] == "a kite"
    assert second.images == [reference]  # the same inputs, rebuilt from the job row
    assert clicked.original.files[0][1] == SECOND
    assert "Reroll" in clicked.original.content


async def test_upscale_sends_the_result_back_at_4k(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    clicked = await h.result(await h.fake.click(st.original, button(st.original, "up4k")))

    second = h.gw.requests[1]
    assert second.images == [FIRST]
    assert second.json["image_config"]["image_size"] == "4K"
    assert clicked.original.files[0][1] == SECOND
    assert not any(i.startswith("imagine:up4k:") for i in clicked.original.custom_ids())


async def test_edit_button_opens_a_modal_on_that_result(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, button(st.original, "edit"))
    await h.fake.wait_for_interaction_reply(opened)
    assert opened.callback_type == 9
    (field_id,) = [
        c["custom_id"] for row in opened.modal["components"] for c in row.get("components", [])
    ]
    done = await h.result(await h.fake.submit_modal(opened, {field_id: "add clouds"}))

    second = h.gw.requests[1]
    assert second.images == [FIRST]
    assert second.json["messages"][-1]["content"][0]["text"] == "add clouds"
    assert done.original.files[0][1] == SECOND


async def test_buttons_respect_the_channel_allow_list(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    other_channel = int(h.fake.guild["channels"][1]["id"])
    await h.store.update_settings(h.guild_id, allowed_channels=(other_channel,))

    clicked = await h.fake.interaction_result(
        await h.fake.click(st.original, button(st.original, "reroll"))
    )
    assert clicked.original.ephemeral and "not enabled in this channel" in clicked.original.content
    assert len(h.gw.requests) == 1


async def test_interrupted_jobs_are_reported_with_a_run_again_button(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    member = await h.fake.member(name="unlucky")
    channel_id = int(h.fake.channel["id"])
    job = await h.store.create_job(
        kind="imagine",
        guild_id=h.guild_id,
        channel_id=channel_id,
        user_id=int(member["user"]["id"]),
        prompt="a lighthouse in a storm",
        params={"model": "gemini-3-pro-image-preview", "inputs": [], "history": False},
    )
    await h.store.update_job(job.id, state="running")

    await h.restart()
    notice = await h.channel_post()
    assert f"<@{member['user']['id']}>" in notice.content and "interrupted" in notice.content
    assert (await h.store.get_job(job.id)).state == "interrupted"

    h.gw.script(Reply(body=images_response([SECOND])))
    clicked = await h.result(await h.fake.click(notice, f"imagine:rerun:{job.id}", member=member))
    (req,) = h.gw.requests
    assert req.json["messages"][-1]["content"] == "a lighthouse in a storm"
    assert clicked.original.files[0][1] == SECOND


async def test_expired_token_posts_the_result_to_the_channel(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST]), delay=1.0))
    member = await h.fake.member(name="patient")
    it = await h.fake.slash("imagine", {"prompt": "a slow painting"}, member=member)
    await h.gw.wait_for_requests(1)
    h.fake.expire(it)  # the job outlived the 15-minute token

    posted = await h.channel_post()
    assert f"<@{member['user']['id']}>" in posted.content
    assert posted.files[0][1] == FIRST
    assert any(i.startswith("imagine:reroll:") for i in posted.custom_ids())


async def test_shutdown_mid_job_leaves_it_to_be_reported_as_interrupted(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST]), delay=30))
    await h.fake.slash("imagine", {"prompt": "never finishes"})
    (req,) = await h.gw.wait_for_requests(1)
    job = await h.store.get_job(1)
    assert job.state == "running"

    await h.restart()  # the shutdown cancels the job; the new process reports it
    notice = await h.channel_post()
    assert "never finishes" in notice.content and "interrupted" in notice.content
    assert (await h.store.get_job(1)).state == "interrupted"


async def test_jobs_past_their_retention_are_removed_and_their_buttons_say_so(
    running_bot: BotHarness, tmp_path
) -> None:
    import sqlite3
    import time

    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    job_id = int(button(st.original, "reroll").rsplit(":", 1)[1])
    sha = (await h.store.get_job(job_id)).result["outputs"][0]
    await h.stop()
    with sqlite3.connect(tmp_path / "bot.db") as db:  # as if it were made 31 days ago
        old = time.time() - 31 * 86400
        db.execute("UPDATE jobs SET created_at = ?, finished_at = ?", (old, old))
    await h.start()  # JOB_RETENTION_DAYS: the default, 30

    # Removal runs in the background from start-up: a deadline, not a count of polls, so a
    # loaded machine's slow polls do not run out first.
    async with asyncio.timeout(30):
        while await h.store.get_job(job_id) is not None:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    assert await h.store.get_blob(sha)  # still the channel's latest turn: /edit goes on from it
    clicked = await h.result(await h.fake.click(st.original, button(st.original, "reroll")))
    assert clicked.original.ephemeral and "no longer have that image" in clicked.original.content
    assert len(h.gw.requests) == 1


async def test_a_button_whose_image_has_expired_says_so(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    job_id = int(button(st.original, "up4k").rsplit(":", 1)[1])
    # As if the image had expired while the job row stayed (an Edit form left open).
    await h.store.update_job(job_id, result={"outputs": ["ab" * 32]})

    clicked = await h.result(await h.fake.click(st.original, button(st.original, "up4k")))

    assert "no longer have that image" in clicked.last_message.content
    assert len(h.gw.requests) == 1


async def test_upscale_result_does_not_show_the_internal_prompt(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    up = await h.result(await h.fake.click(st.original, button(st.original, "up2k")))
    assert "Recreate this exact image" not in up.original.content
    assert "Upscale" in up.original.content and "2K" in up.original.content
    # a reroll of the upscale says what it is, too
    again = await h.result(await h.fake.click(up.original, button(up.original, "reroll")))
    assert "Recreate this exact image" not in again.original.content
    assert "2K" in again.original.content


async def test_reroll_of_imagine_starts_a_new_chain(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD, FOURTH)))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))
    await h.result(await h.fake.click(st.original, button(st.original, "reroll")))
    await h.result(await h.fake.slash("edit", {"prompt": "add clouds"}))

    rerolled, last = h.gw.requests[2], h.gw.requests[3]
    assert [m["role"] for m in rerolled.json["messages"]] == ["user"]  # like /imagine again
    assert last.images == [THIRD]  # the reroll's image, not the edit's
    messages = last.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "a kite"  # only the new chain is replayed
    assert "make it red" not in str(messages)


async def test_reroll_of_an_edit_still_continues_the_chain(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in (FIRST, SECOND, THIRD, FOURTH)))
    await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    edited = await h.result(await h.fake.slash("edit", {"prompt": "make it red"}))
    await h.result(await h.fake.click(edited.original, button(edited.original, "reroll")))
    await h.result(await h.fake.slash("edit", {"prompt": "add clouds"}))

    assert h.gw.requests[2].images == [FIRST]  # the reroll edits what the edit edited
    last = h.gw.requests[3]
    assert last.images == [THIRD]
    assert len(last.json["messages"]) == 7  # imagine, edit, reroll replayed, then this turn
