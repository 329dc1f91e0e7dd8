"""/imagine and /reset through the real bot, the fake Discord and the fake gateway."""

from __future__ import annotations

from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import PRO_MODEL, BotHarness


async def test_imagine_end_to_end(running_bot: BotHarness) -> None:
    h = running_bot
    reference = png_bytes(64, 48, (10, 200, 30))
    output = png_bytes(96, 64, (250, 10, 10))
    h.gw.script(Reply(body=images_response([output], usage={"total_tokens": 1300})))

    it = await h.fake.slash(
        "imagine",
        {
            "prompt": "a red fox",
            "image": ("fox.png", reference),
            "aspect_ratio": "3:2",
            "size": "2K",
        },
    )
    st = await h.result(it)

    assert st.callback_type == 5  # deferred with "thinking" at once
    (req,) = h.gw.requests
    body = req.json
    assert body["model"] == PRO_MODEL
    last = body["messages"][-1]
    assert last["role"] == "user" and len(body["messages"]) == 1
    assert last["content"][0] == {"type": "text", "text": "a red fox"}
    assert req.images == [reference]  # the attachment's bytes, as a data URI
    assert last["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    assert body["image_config"] == {"aspect_ratio": "3:2", "image_size": "2K"}

    msg = st.original
    assert msg is not None and not msg.ephemeral
    ((name, data),) = msg.files
    assert data == output and name.endswith(".png")
    assert "a red fox" in msg.content
    ids = msg.custom_ids()
    assert any(i.startswith("imagine:reroll:") for i in ids)
    assert any(i.startswith("imagine:edit:") for i in ids)
    assert any(i.startswith("imagine:up4k:") for i in ids)

    job_id = int(ids[0].rsplit(":", 1)[1])
    job = await h.store.get_job(job_id)
    assert job.state == "done" and job.kind == "imagine"
    usage = await h.store.usage_summary(h.guild_id, since=0)
    assert [(u.images, u.tokens) for u in usage] == [(1, 1300)]


async def test_flash_image_is_1k_only_and_has_no_upscale_buttons(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([png_bytes(8, 8)])))
    st = await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a frog", "size": "4K", "model": "gemini-2.5-flash-image"}
        )
    )
    (req,) = h.gw.requests
    assert req.json["model"] == "gemini-2.5-flash-image"
    assert "image_size" not in req.json.get("image_config", {})
    assert "1K images only" in st.original.content
    assert not any(":up" in i for i in st.original.custom_ids())


async def test_imagine_starts_a_new_chain(running_bot: BotHarness) -> None:
    h = running_bot
    first, second, third = (png_bytes(8, 8, c) for c in ((1, 0, 0), (0, 1, 0), (0, 0, 1)))
    h.gw.script(*(Reply(body=images_response([img])) for img in (first, second, third)))
    await h.result(await h.fake.slash("imagine", {"prompt": "one"}))
    await h.result(await h.fake.slash("imagine", {"prompt": "two"}))
    await h.result(await h.fake.slash("edit", {"prompt": "three"}))
    edit = h.gw.requests[2]
    assert [m["role"] for m in edit.json["messages"]] == ["user", "assistant", "user"]
    assert edit.json["messages"][0]["content"] == "two"
    assert edit.images == [second]
