"""No job is lost: the row comes first, and Discord's faults do not drop a result."""

from __future__ import annotations

import asyncio

from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, images_response, openai_error, png_bytes
from tests.harness import BotHarness
from tests.reliability.conftest import read_db

IMAGE = png_bytes(20, 20, (10, 120, 30))
ORIGINAL_EDIT = "PATCH /webhooks/*/messages/@original"


async def test_job_row_is_running_when_the_gateway_receives_the_request(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    seen: list[list[dict]] = []

    def inspect(request) -> Reply:
        # Runs inside the fake gateway while the bot awaits this very request.
        seen.append([dict(r) for r in read_db(h, "SELECT * FROM jobs")])
        return Reply(body=images_response([IMAGE]))

    h.gw.script(inspect)
    member = await h.fake.member(name="watcher")
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a lighthouse"}, member=member))
    assert st.original.files[0][1] == IMAGE

    ((row,),) = seen
    assert row["state"] == "running" and row["started_at"] is not None
    assert row["prompt"] == "a lighthouse" and row["kind"] == "imagine"
    assert row["user_id"] == int(member["user"]["id"])
    assert row["channel_id"] == int(h.fake.channel["id"]) and row["guild_id"] == h.guild_id
    assert row["interaction_token"] == st.token and row["finished_at"] is None
    done = await h.store.get_job(row["id"])
    assert done.state == "done" and done.result["outputs"]


async def test_acknowledging_too_late_still_delivers_to_the_channel(
    running_bot: BotHarness,
) -> None:
    """Discord answers 10062 to a defer after 3 s; the job runs and the channel gets it."""
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])))
    member = await h.fake.member(name="late")
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    payload = p.slash_command(
        "imagine",
        [p.str_option("prompt", "a slow start")],
        command_id=cmd["id"],
        **h.fake.envelope(member),
    )
    st = h.fake.register_interaction(payload)
    h.fake.expire(st)  # callback -> 404 10062, webhook -> 401 50027
    await h.fake.dispatch("INTERACTION_CREATE", payload)

    posted = await h.channel_post()
    assert posted.content.startswith(f"<@{member['user']['id']}>")
    assert posted.files[0][1] == IMAGE
    assert len(h.gw.requests) == 1
    [callback] = h.fake.find(f"POST /interactions/{st.id}/*")
    assert callback.status == 404 and callback.response["code"] == 10062
    assert (await h.store.get_job(1)).state == "done"


async def test_late_acknowledgement_and_a_gateway_error_tell_the_channel(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.gw.script(Reply(status=401, body=openai_error("Invalid API key", code=401)))
    member = await h.fake.member(name="late2")
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    payload = p.slash_command(
        "imagine", [p.str_option("prompt", "x")], command_id=cmd["id"], **h.fake.envelope(member)
    )
    h.fake.expire(h.fake.register_interaction(payload))
    await h.fake.dispatch("INTERACTION_CREATE", payload)
    posted = await h.channel_post()
    assert f"<@{member['user']['id']}>" in posted.content
    assert "The bot's owner needs to set a valid key for the bot's gateway." in posted.content


async def test_follow_up_5xx_is_retried(running_bot: BotHarness) -> None:
    h = running_bot
    # A private error removes the "thinking…" message and answers in an ephemeral follow-up.
    h.fake.server_error("POST /webhooks/*", times=1)
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "x", "image": ("fake.png", b"not a png" * 30)})
    )
    assert [r.status for r in h.fake.find("POST /webhooks/*")] == [500, 200]
    assert st.original_deleted
    assert "not an image I can read" in st.last_message.content
    assert h.gw.requests == []


async def test_rate_limited_result_edit_is_left_to_discord_py_and_arrives_once(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    h.fake.rate_limit(ORIGINAL_EDIT, retry_after=0.05, times=2)
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.original.files[0][1] == IMAGE
    # Changed with Cancel: the progress message gets its button first (one more edit).
    edits = h.fake.find(ORIGINAL_EDIT)
    assert [r.status for r in edits] == [429, 429, 200, 200]
    assert sum(1 for r in edits if r.files and r.status == 200) == 1
    assert st.original_edits == 2 and st.followups == []
    assert h.fake.find("POST /channels/*/messages") == []  # no duplicate in the channel
    assert len(h.gw.requests) == 1


async def test_websocket_drop_mid_job_resumes_and_delivers(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE]), delay=0.5))
    first = await h.fake.slash("imagine", {"prompt": "during the outage"})
    await asyncio.wait_for(h.gw.wait_for_requests(1), 10)
    await h.fake.drop_websocket()
    # Dispatched while the socket is down: replayed on RESUME, not lost.
    second = await h.fake.slash("imagine", {"prompt": "sent while disconnected"})

    one = await h.result(first)
    two = await h.result(second)
    assert one.original.files[0][1] == IMAGE and two.original.files
    await h.fake.wait_until(lambda: h.fake.resume_count == 1, what="RESUMED")
    assert len(h.fake.identifies) == 1  # resumed, not a new session
    assert len(h.gw.requests) == 2
    jobs = read_db(h, "SELECT state FROM jobs ORDER BY id")
    assert [j["state"] for j in jobs] == ["done", "done"]
