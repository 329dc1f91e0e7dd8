"""Vary (Subtle) / Vary (Strong) under a one-image result, and /blend, end to end."""

from __future__ import annotations

from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import PRO_MODEL, BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))
THIRD = png_bytes(32, 32, (0, 0, 200))
PHOTOS = [png_bytes(20 + n, 20, (40 * n, 10, 90)) for n in range(6)]


def _job_id(message: object) -> int:
    ids = message.custom_ids()  # type: ignore[attr-defined]
    return int(next(i for i in ids if i.startswith("imagine:reroll:")).rsplit(":", 1)[1])


async def test_vary_strong_reinterprets_the_image_from_its_prompt(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])), Reply(body=images_response([SECOND])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a lighthouse", "size": "2K"}))
    msg = st.original
    job_id = _job_id(msg)
    rows = [[c["label"] for c in row["components"]] for row in msg.components]
    assert rows == [
        ["Vary (Subtle)", "Vary (Strong)", "Reroll"],
        ["Edit", "Edit region", "Upscale 4K", "Delete"],
    ]

    varied = await h.result(await h.fake.click(msg, f"imagine:vary_strong:{job_id}:1"))
    req = h.gw.requests[1]
    assert req.images == [FIRST] and req.model == PRO_MODEL
    text = req.json["messages"][-1]["content"][0]["text"]
    assert text.startswith("Make a strong variation of the provided image: reinterpret it")
    assert text.endswith("The image was made from this prompt: a lighthouse")
    assert varied.original.files[0][1] == SECOND
    assert varied.original.content.startswith("**Vary (Strong)** · a lighthouse")

    # A variation of the variation varies the member's prompt, not our instruction twice.
    h.gw.script(Reply(body=images_response([THIRD])))
    await h.result(
        await h.fake.click(varied.original, f"imagine:vary_subtle:{_job_id(varied.original)}:1")
    )
    again = h.gw.requests[2].json["messages"][-1]["content"][0]["text"]
    assert again.startswith("Make a subtle variation") and again.count("variation") == 1
    assert again.endswith("The image was made from this prompt: a lighthouse")
    assert h.gw.requests[2].images == [SECOND]


async def test_blend_sends_three_images_in_order(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(
        await h.fake.slash(
            "blend",
            {
                "image1": ("a.png", PHOTOS[0]),
                "image2": ("b.png", PHOTOS[1]),
                "image3": ("c.png", PHOTOS[2]),
                "aspect_ratio": "16:9",
            },
        )
    )
    (req,) = h.gw.requests
    text, *images = req.json["messages"][-1]["content"]
    assert text["text"].startswith("Blend the provided images into one new, coherent image.")
    assert [i["image_url"]["url"][:22] for i in images] == ["data:image/png;base64,"] * 3
    assert req.images == PHOTOS[:3]
    assert req.json["image_config"]["aspect_ratio"] == "16:9"
    assert st.original.files[0][1] == FIRST
    assert st.original.content.startswith("**Blend**")
    job = await h.store.get_job(_job_id(st.original))
    assert job.kind == "blend" and len(job.params["inputs"]) == 3


async def test_blend_with_a_prompt_and_six_images(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    options = {f"image{n + 1}": (f"{n}.png", PHOTOS[n]) for n in range(6)}
    st = await h.result(
        await h.fake.slash("blend", {**options, "prompt": "all six cats on one sofa"})
    )
    (req,) = h.gw.requests
    assert req.json["messages"][-1]["content"][0]["text"] == "all six cats on one sofa"
    assert req.images == PHOTOS
    assert st.original.content.startswith("**Blend** · all six cats on one sofa")


async def test_too_many_references_for_the_model_are_refused(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, model="gemini-2.5-flash-image")
    options = {f"image{n + 1}": (f"{n}.png", PHOTOS[n]) for n in range(4)}
    st = await h.result(await h.fake.slash("blend", options))
    # The public "thinking…" goes; the answer concerns only the member.
    assert st.original_deleted
    assert st.last_message.content == (
        "gemini-2.5-flash-image takes at most 3 reference images and this asks for 4: use "
        "fewer images, or a Gemini 3 image model (e.g. gemini-3-pro-image-preview), which "
        "takes up to 14."
    )
    assert h.gw.requests == []
    # Refused before the gateway: its row (written at admission, for Cancel) counts nothing.
    job = await h.store.get_job(1)
    assert job is not None and job.state == "failed" and not job.counted
