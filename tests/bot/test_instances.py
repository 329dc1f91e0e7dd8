"""INSTANCE_NAME: each process owns the jobs it runs, and a restart interrupts only its own."""

from __future__ import annotations

from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(32, 32, (0, 0, 200))


async def _running_job(h: BotHarness, prompt: str, owner: str) -> int:
    member = await h.fake.member(name=f"member-of-{owner}")
    job = await h.store.create_job(
        kind="imagine",
        guild_id=h.guild_id,
        channel_id=int(h.fake.channel["id"]),
        user_id=int(member["user"]["id"]),
        prompt=prompt,
        params={"model": "gemini-3-pro-image-preview", "inputs": [], "history": False},
        owner=owner,
    )
    await h.store.update_job(job.id, state="running")
    return job.id


async def test_a_job_belongs_to_the_instance_that_ran_it(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(instance_name="shard-7")
    h.gw.script(Reply(body=images_response([IMAGE])))
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    job = await h.store.get_job(1)
    assert job is not None and (job.state, job.owner) == ("done", "shard-7")


async def test_a_restart_interrupts_only_its_own_instance_s_jobs(running_bot: BotHarness) -> None:
    h = running_bot
    await h.restart(instance_name="blue")
    blue = await _running_job(h, "blue's lighthouse", "blue")
    green = await _running_job(h, "green's lighthouse", "green")

    await h.restart()  # blue again, as a process restarted under the same name would
    notice = await h.channel_post()
    assert "blue's lighthouse" in notice.content and "interrupted" in notice.content
    assert (await h.store.get_job(blue)).state == "interrupted"
    assert (await h.store.get_job(green)).state == "running"  # another process's job

    await h.restart(instance_name="green")
    notice = await h.channel_post()
    assert "green's lighthouse" in notice.content
    assert (await h.store.get_job(green)).state == "interrupted"
