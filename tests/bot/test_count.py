"""/imagine count:N through the real bot, the fake Discord and the fake gateway.

N independent generations, one message with every image, per-image buttons that work
after a restart, a failed image named in the message, and N images in every cap.
"""

from __future__ import annotations

import hashlib
import io
import re

from PIL import Image

from tests.fakes import discord_payloads as p
from tests.fakes.gateway import Reply, chat_completion, images_response, openai_error, png_bytes
from tests.harness import BotHarness
from tests.imaging import make_photo_like

IMAGES = [png_bytes(24, 24, (60 * n, 200 - 40 * n, 30)) for n in range(4)]
REFUSED = Reply(body=chat_completion({"role": "assistant", "content": ""}, finish_reason="SAFETY"))
OUT_OF_CREDIT = Reply(status=402, body=openai_error("Insufficient credits", code=402))
FAILED_LINE = re.compile(r"^Image (\d) failed: (.+)$", re.M)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _job_id(message: object) -> int:
    ids = message.custom_ids()  # type: ignore[attr-defined]
    reroll = next(i for i in ids if i.startswith("imagine:reroll:"))
    return int(reroll.rsplit(":", 1)[1])


async def _roomy(h: BotHarness, **more: int) -> None:
    """Members may run four images at once (the default is two)."""
    await h.store.update_settings(h.guild_id, user_concurrency=4, **more)


async def test_count_4_makes_4_requests_and_posts_4_attachments(running_bot: BotHarness) -> None:
    h = running_bot
    await _roomy(h)
    h.gw.script(
        *(Reply(body=images_response([img], usage={"total_tokens": 100})) for img in IMAGES)
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a fox", "count": 4}))

    assert len(h.gw.requests) == 4
    for req in h.gw.requests:  # four independent requests, each the whole prompt, one image
        assert req.json["messages"] == [{"role": "user", "content": "a fox"}]
    msg = st.original
    job_id = _job_id(msg)
    names = [name for name, _ in msg.files]
    assert names == [f"imagine-{job_id}-{n}.png" for n in (1, 2, 3, 4)]
    assert sorted(data for _, data in msg.files) == sorted(IMAGES)  # each image once, as sent

    # Rows by action, a numbered button per image, Reroll below: Discord's 5 rows of 5.
    rows = [[c.get("custom_id") for c in row["components"]] for row in msg.components]
    assert rows == [
        [f"imagine:row:{action}:{job_id}"]
        + [f"imagine:{action}:{job_id}:{n}" for n in (1, 2, 3, 4)]
        for action in ("upscale", "vary_subtle", "vary_strong", "edit")
    ] + [[f"imagine:reroll:{job_id}", f"imagine:region:{job_id}", f"imagine:delete:{job_id}"]]
    headers = [row["components"][0] for row in msg.components[:4]]
    assert [(b["label"], b["disabled"]) for b in headers] == [
        ("Upscale 2K", True),
        ("Vary (Subtle)", True),
        ("Vary (Strong)", True),
        ("Edit", True),
    ]
    assert [b["label"] for b in msg.components[1]["components"][1:]] == ["1", "2", "3", "4"]

    job = await h.store.get_job(job_id)
    by_name = {name: data for name, data in msg.files}
    assert job.result["images"] == [_sha(by_name[n]) for n in names]  # kept by number
    assert job.images == 4 and job.params["count"] == 4
    usage = await h.store.usage_summary(h.guild_id, since=0)
    assert [(u.jobs, u.images, u.tokens) for u in usage] == [(1, 4, 400)]


async def test_one_failing_of_three_is_named_and_the_others_delivered(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await _roomy(h)
    # What the member reads when a job of one image is refused, for the comparison below.
    h.gw.script(REFUSED)
    alone = await h.result(await h.fake.slash("imagine", {"prompt": "a fox"}))
    refusal = alone.last_message.content

    h.gw.script(
        REFUSED, Reply(body=images_response([IMAGES[0]])), Reply(body=images_response([IMAGES[1]]))
    )
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a fox", "count": 3}))
    assert len(h.gw.requests) == 1 + 3

    msg = st.original
    ((failed, sentence),) = FAILED_LINE.findall(msg.content)
    assert sentence == refusal
    job_id = _job_id(msg)
    delivered = [n for n in (1, 2, 3) if n != int(failed)]
    assert [name for name, _ in msg.files] == [f"imagine-{job_id}-{n}.png" for n in delivered]
    assert sorted(data for _, data in msg.files) == sorted(IMAGES[:2])
    ids = msg.custom_ids()
    assert f"imagine:vary_subtle:{job_id}:{failed}" not in ids
    assert all(f"imagine:vary_subtle:{job_id}:{n}" in ids for n in delivered)

    job = await h.store.get_job(job_id)
    assert job.state == "done" and job.result["images"][int(failed) - 1] is None
    assert job.images == 3  # two images and a refusal, which counts as a refused job does
    assert (await h.store.usage_summary(h.guild_id, since=0))[0].images == 2


async def test_all_failing_is_the_usual_failure_and_costs_nothing(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(OUT_OF_CREDIT)
    alone = await h.result(await h.fake.slash("imagine", {"prompt": "a fox"}))

    h.gw.script(OUT_OF_CREDIT, OUT_OF_CREDIT)
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a fox", "count": 2}))
    assert len(h.gw.requests) == 1 + 2
    assert st.last_message.content == alone.last_message.content
    assert not st.last_message.files
    job = await h.store.get_job(2)
    assert job.state == "failed" and not job.counted and job.images == 0
    assert await h.store.count_jobs(guild_id=h.guild_id, user_id=None, since=0) == 0


async def test_v2_varies_the_second_image_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGES[0]])), Reply(body=images_response([IMAGES[1]])))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "a fox in snow", "size": "2K", "count": 2})
    )
    msg = st.original
    job_id = _job_id(msg)
    second = dict(msg.files)[f"imagine-{job_id}-2.png"]

    await h.restart()  # the buttons are rebuilt from the custom_id and the job row
    h.gw.script(Reply(body=images_response([IMAGES[2]])))
    varied = await h.result(await h.fake.click(msg, f"imagine:vary_subtle:{job_id}:2"))

    req = h.gw.requests[2]
    assert req.images == [second]
    text, image = req.json["messages"][-1]["content"]
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    assert text["text"].startswith("Make a subtle variation of the provided image. Keep the same")
    assert text["text"].endswith("The image was made from this prompt: a fox in snow")
    assert req.json["image_config"]["image_size"] == "2K"  # the job's own size
    out = varied.original
    assert out.files[0][1] == IMAGES[2]
    assert out.content.startswith("**Vary (Subtle)** · a fox in snow")
    vary_id = _job_id(out)
    job = await h.store.get_job(vary_id)
    assert job.kind == "vary" and job.params["inputs"] == [_sha(second)]
    # Its own result has the usual buttons, Vary included.
    assert {f"imagine:vary_strong:{vary_id}:1", f"imagine:reroll:{vary_id}"} <= set(
        out.custom_ids()
    )


async def test_per_image_upscale_and_edit_take_that_image(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGES[0]])), Reply(body=images_response([IMAGES[1]])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a fox", "count": 2}))
    msg = st.original
    job_id = _job_id(msg)
    first = dict(msg.files)[f"imagine-{job_id}-1.png"]

    h.gw.script(Reply(body=images_response([IMAGES[3]])))
    await h.result(await h.fake.click(msg, f"imagine:upscale:{job_id}:1"))
    up = h.gw.requests[2]
    assert up.images == [first] and up.json["image_config"]["image_size"] == "2K"

    opened = await h.fake.click(msg, f"imagine:edit:{job_id}:1")
    await h.fake.wait_for_interaction_reply(opened)
    assert opened.callback_type == 9  # the edit form, for image 1 alone


async def test_a_count_above_the_servers_maximum_is_refused(running_bot: BotHarness) -> None:
    h = running_bot
    await _roomy(h, max_count=2)
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "a fox", "count": 3})
    )
    assert st.original.ephemeral
    assert st.original.content == (
        "This server allows at most 2 images per /imagine: ask for count:2 or fewer "
        "(an admin can change it with /settings limits max_count:)."
    )
    assert h.gw.requests == []


async def test_count_above_the_members_limit_runs_when_they_have_nothing_generating(
    running_bot: BotHarness,
) -> None:
    """Default limits (2 per member): count:4 runs, alone (changed: it was refused)."""
    h = running_bot
    h.gw.script(*(Reply(body=images_response([img])) for img in IMAGES))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a fox", "count": 4}))
    assert len(h.gw.requests) == 4 and len(st.original.files) == 4


async def test_each_image_counts_in_the_quotas(running_bot: BotHarness) -> None:
    h = running_bot
    await _roomy(h, user_hourly=3)
    member = await h.fake.member(name="counted")
    h.gw.script(*(Reply(body=images_response([img])) for img in IMAGES[:3]))
    await h.result(await h.fake.slash("imagine", {"prompt": "a", "count": 2}, member=member))

    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "b", "count": 2}, member=member)
    )
    assert st.original.ephemeral and st.original.content == (
        "count:2 needs room for 2 images and only 1 fit now (the hourly and daily quotas "
        "count each image): ask for count:1, or try again later."
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "c"}, member=member))
    st = await h.fake.interaction_result(
        await h.fake.slash("imagine", {"prompt": "d"}, member=member)
    )
    assert st.original.content == "You have used your 3 images for this hour. Try again later."
    assert len(h.gw.requests) == 3


async def test_each_image_is_one_in_flight(running_bot: BotHarness) -> None:
    h = running_bot
    await _roomy(h)
    member = await h.fake.member(name="busy")
    user_id = int(member["user"]["id"])
    slots = [  # three of this member's images generating
        await h.bot.runtime.admissions.acquire(
            user_id=user_id, guild_id=h.guild_id, user_limit=4, guild_limit=10
        )
        for _ in range(3)
    ]
    st = await h.fake.slash("imagine", {"prompt": "two more", "count": 2}, member=member)
    # Changed: it waits for room (it was refused); both images start together.
    await h.fake.wait_for(
        lambda r: (
            r.method == "PATCH"
            and st.token in r.path
            and "1st in line" in ((r.json or {}).get("content") or "")
        )
    )
    assert h.bot.runtime.admissions.in_flight(user_id=user_id) == 3 and h.gw.requests == []
    await h.bot.runtime.admissions.release(slots[0])
    assert h.gw.requests == []  # one free is not room for two
    h.gw.script(*(Reply(body=images_response([img])) for img in IMAGES[:2]))
    await h.bot.runtime.admissions.release(slots[1])
    done = await h.result(st)
    assert len(h.gw.requests) == 2 and len(done.original.files) == 2


async def test_the_images_fit_the_upload_limit_together(running_bot: BotHarness) -> None:
    h = running_bot
    big = [make_photo_like(480, 360, seed=s) for s in (1, 2)]
    limit = max(len(b) for b in big)  # each fits alone; the two together do not
    assert sum(map(len, big)) > limit
    h.gw.script(*(Reply(body=images_response([b])) for b in big))
    cmd = h.fake.command("imagine", guild_id=h.fake.guild["id"])
    payload = p.slash_command(
        "imagine",
        [p.str_option("prompt", "two photos"), p.option("count", 2, p.INTEGER)],
        command_id=cmd["id"],
        attachment_size_limit=limit,
        **h.fake.envelope(await h.fake.member()),
    )
    st = await h.result(await h.fake.dispatch_interaction(payload))

    files = st.original.files
    assert len(files) == 2 and sum(len(data) for _, data in files) <= limit
    for _, data in files:
        with Image.open(io.BytesIO(data)) as im:
            assert im.size == (480, 360)  # re-encoded, not shrunk
