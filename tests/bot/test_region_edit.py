"""Edit region: the button, its select and modal, ``/edit region:``, and the pixels kept.

Outside the region the posted image is the original's pixels, exactly, whatever the
gateway answers: another size, another aspect, every colour shifted.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

import pytest

from bot.images.regions import pixel_box
from tests.bot.helpers import modal_field
from tests.fakes.gateway import RecordedRequest, Reply, google_response, images_response
from tests.harness import BotHarness
from tests.imaging import differs_outside, make_photo_like, shifted

ORIGINAL = make_photo_like(96, 64, seed=11)
SIZE = (96, 64)


def repainting(size: tuple[int, int] | None = None, *, google: bool = False) -> Callable:
    """A gateway that answers with the image it was sent, every colour shifted (and resized)."""

    def answer(recorded: RecordedRequest) -> Reply:
        image = shifted(recorded.images[0], size)
        body = google_response([image]) if google else images_response([image])
        return Reply(body=body)

    return answer


def _job_id(message) -> int:
    return int(
        next(i for i in message.custom_ids() if i.startswith("imagine:reroll:")).split(":")[2]
    )


def _text(request: RecordedRequest) -> str:
    content = request.json["messages"][-1]["content"]
    return " ".join(p["text"] for p in content if p.get("type") == "text")


async def _imagined(h: BotHarness) -> tuple[object, int]:
    h.gw.script(Reply(body=images_response([ORIGINAL])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a harbour"}))
    return st.original, _job_id(st.original)


@pytest.mark.parametrize(
    "answer_size",
    [None, (192, 128), (128, 128), (60, 90)],
    ids=["shifted", "bigger-same-aspect", "square", "portrait-smaller"],
)
async def test_edit_region_button_keeps_every_pixel_outside_the_region(
    running_bot: BotHarness, answer_size: tuple[int, int] | None
) -> None:
    h = running_bot
    result, job_id = await _imagined(h)

    pressed = await h.fake.click(result, f"imagine:region:{job_id}:1")
    await h.fake.wait_for_interaction_reply(pressed)
    picker = pressed.original
    assert picker.ephemeral and "Nothing else in it will" in picker.content
    assert picker.custom_ids() == [f"imagine:area:{job_id}:1"]
    (menu,) = [c for row in picker.components for c in row["components"]]
    labels = [o["label"] for o in menu["options"]]
    assert len(labels) == 17
    for label in ("Top left", "Center", "Bottom right", "Left half", "Top right quarter"):
        assert label in labels

    picked = await h.fake.select(picker, f"imagine:area:{job_id}:1", ["top-right"])
    field = await modal_field(h, picked)
    assert picked.modal["title"] == "Edit the top right"
    h.gw.script(repainting(answer_size))
    done = await h.result(await h.fake.submit_modal(picked, {field: "add a red kite"}))

    request = h.gw.requests[-1]
    # The whole original goes up, as it is, then the marked copy, with the region in words.
    assert request.images[0] == ORIGINAL and len(request.images) == 2
    assert b"data:image/png;base64," + base64.b64encode(ORIGINAL) in request.body
    text = _text(request)
    assert "Edit only the top right region" in text and "add a red kite" in text
    assert "the right third of its width and the top third of its height" in text

    ((name, posted),) = done.original.files
    assert name.endswith(".png")
    box = pixel_box("top-right", SIZE)
    assert differs_outside(ORIGINAL, posted, box) is None
    assert differs_outside(ORIGINAL, posted, (0, 0, 0, 0)) is not None  # the region changed
    assert done.original.content.startswith("**Edit region (top right)** · add a red kite")

    # The history holds what was posted, so the next edit builds on it.
    (turn,) = (await h.store.recent_turns(int(h.fake.channel["id"]), 5))[-1:]
    assert turn.outputs[0].sha256 == hashlib.sha256(posted).hexdigest()
    job = await h.store.get_job(_job_id(done.original))
    assert job.kind == "region" and job.params["region"] == "top-right"


async def test_slash_edit_region_edits_the_latest_image(running_bot: BotHarness) -> None:
    h = running_bot
    await _imagined(h)
    h.gw.script(repainting((48, 32)))
    done = await h.result(
        await h.fake.slash("edit", {"prompt": "make it snow", "region": "left-half"})
    )

    request = h.gw.requests[-1]
    assert request.images[0] == ORIGINAL
    assert "Edit only the left half region" in _text(request)
    ((_, posted),) = done.original.files
    assert differs_outside(ORIGINAL, posted, pixel_box("left-half", SIZE)) is None
    assert done.original.content.startswith("**Edit region (left half)** · make it snow")
    (turn,) = (await h.store.recent_turns(int(h.fake.channel["id"]), 5))[-1:]
    assert turn.outputs[0].sha256 == hashlib.sha256(posted).hexdigest()


async def test_edit_region_choices_are_on_the_slash_command(running_bot: BotHarness) -> None:
    h = running_bot
    edit = h.fake.command("edit", 1, guild_id=h.fake.guild["id"])
    (region,) = [o for o in edit["options"] if o["name"] == "region"]
    names = {c["name"]: c["value"] for c in region["choices"]}
    assert names["Top left"] == "top-left" and names["Bottom half"] == "bottom-half"
    assert names["Center"] == "center" and len(names) == 17


@pytest.mark.parametrize("bot_dialect", ["google"])
async def test_the_replayed_model_turn_is_the_composited_image(running_bot: BotHarness) -> None:
    """google replays the model's own turn: after a region edit it must show what was posted."""
    h = running_bot
    h.gw.script(Reply(body=google_response([ORIGINAL])))
    await h.result(await h.fake.slash("imagine", {"prompt": "a harbour"}))
    h.gw.script(repainting((192, 128), google=True))
    done = await h.result(
        await h.fake.slash("edit", {"prompt": "a boat", "region": "bottom-left-quarter"})
    )
    ((_, posted),) = done.original.files
    assert differs_outside(ORIGINAL, posted, pixel_box("bottom-left-quarter", SIZE)) is None
    raw_answer = shifted(h.gw.requests[-1].images[0], (192, 128))

    h.gw.script(Reply(body=google_response([ORIGINAL])))
    await h.result(await h.fake.slash("edit", {"prompt": "now at night"}))
    replayed = h.gw.requests[-1].images
    assert posted in replayed and raw_answer not in replayed


async def test_a_count_result_offers_a_select_per_image(running_bot: BotHarness) -> None:
    h = running_bot
    images = [make_photo_like(96, 64, seed=s) for s in (1, 2)]
    h.gw.script(*(Reply(body=images_response([i])) for i in images))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "boats", "count": 2}))
    job_id = _job_id(st.original)
    # The Upscale row fills the grid: one Edit region button beside Reroll.
    pressed = await h.fake.click(st.original, f"imagine:region:{job_id}")
    await h.fake.wait_for_interaction_reply(pressed)
    assert pressed.original.custom_ids() == [f"imagine:area:{job_id}:1", f"imagine:area:{job_id}:2"]

    await h.restart()  # the select is persistent: its custom_id says which job and image
    picked = await h.fake.select(pressed.original, f"imagine:area:{job_id}:2", ["center"])
    field = await modal_field(h, picked)
    h.gw.script(repainting())
    done = await h.result(await h.fake.submit_modal(picked, {field: "a lighthouse"}))
    assert h.gw.requests[-1].images[0] == images[1]
    ((_, posted),) = done.original.files
    assert differs_outside(images[1], posted, pixel_box("center", SIZE)) is None


async def test_a_count_grid_with_room_has_an_edit_region_row(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(*(Reply(body=images_response([ORIGINAL])) for _ in range(2)))
    st = await h.result(
        await h.fake.slash("imagine", {"prompt": "boats", "count": 2, "size": "4K"})
    )
    job_id = _job_id(st.original)
    rows = [[c.get("custom_id") for c in row["components"]] for row in st.original.components]
    assert [
        f"imagine:row:region:{job_id}",
        *(f"imagine:region:{job_id}:{n}" for n in (1, 2)),
    ] in rows
    assert f"imagine:region:{job_id}" not in st.original.custom_ids()


async def test_the_fake_offers_only_what_the_select_holds(running_bot: BotHarness) -> None:
    """As Discord's client: a value the select does not offer cannot be picked."""
    h = running_bot
    result, job_id = await _imagined(h)
    pressed = await h.fake.click(result, f"imagine:region:{job_id}:1")
    await h.fake.wait_for_interaction_reply(pressed)
    with pytest.raises(ValueError, match="takes 1..1"):
        await h.fake.select(pressed.original, f"imagine:area:{job_id}:1", ["everywhere"])
    with pytest.raises(ValueError, match="takes 1..1"):
        await h.fake.select(pressed.original, f"imagine:area:{job_id}:1", ["center", "top-half"])
    with pytest.raises(ValueError, match="no select"):
        await h.fake.select(result, f"imagine:region:{job_id}:1", ["center"])
