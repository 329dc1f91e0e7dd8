"""/history: browse the edit tree, Continue from here (branch) and Restore, end to end.

The google dialect replays each turn's model part verbatim, so the gateway request shows
exactly which path of the tree an edit continued.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.gateway import Reply, b64, google_response, png_bytes
from tests.harness import BotHarness

pytestmark = pytest.mark.parametrize("bot_dialect", ["google"])

IMAGES = [png_bytes(40, 40, (40 * n, 0, 255 - 40 * n)) for n in range(6)]
SIGS = [f"c2lnLX{n}=" for n in range(6)]


def model_parts(n: int) -> list[dict[str, Any]]:
    """Step n's model turn as the gateway sent it (google_response's text, image, signature)."""
    return [
        {"text": f"Step {n}.", "thoughtSignature": SIGS[n]},
        {
            "inlineData": {"mimeType": "image/png", "data": b64(IMAGES[n])},
            "thoughtSignature": SIGS[n],
        },
    ]


def models(request: Any) -> list[list[dict[str, Any]]]:
    return [c["parts"] for c in request.json["contents"] if c["role"] == "model"]


def custom_id(message: Any, prefix: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(prefix))


async def a_line_of_three(h: BotHarness) -> None:
    h.gw.script(
        *(
            Reply(body=google_response([IMAGES[n]], f"Step {n}.", thought_signature=SIGS[n]))
            for n in range(1, 6)
        )
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    await h.result(await h.fake.slash("edit", {"prompt": "give it a hat"}))
    await h.result(await h.fake.slash("edit", {"prompt": "make it night"}))


async def open_history(h: BotHarness, me: Any) -> Any:
    st = await h.fake.interaction_result(await h.fake.slash("history", member=me))
    assert st.original.ephemeral
    return st.original


async def page_to(h: BotHarness, me: Any, message: Any, title: str) -> Any:
    for _ in range(6):
        if message.embeds[0]["title"] == title:
            return message
        ids = [i for i in message.custom_ids() if i.startswith("imagine:hist:page:")]
        older = ids[-1]
        st = await h.fake.interaction_result(await h.fake.click(message, older, member=me))
        message = st.original
    raise AssertionError(f"no page {title!r}")


async def test_continue_from_step_one_branches_and_keeps_steps_two_and_three(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member()
    await a_line_of_three(h)
    gallery = await open_history(h, me)
    assert gallery.embeds[0]["title"] == "Step 3 of 3"
    assert gallery.embeds[0]["description"] == "make it night"
    assert gallery.files == [("step.png", IMAGES[3])]
    assert "Latest: the next /edit edits this step. Edits step 2." in str(gallery.embeds[0])

    first = await page_to(h, me, gallery, "Step 1 of 3")
    assert first.files == [("step.png", IMAGES[1])]
    assert first.embeds[0]["description"] == "a cat"
    st = await h.fake.interaction_result(
        await h.fake.click(first, custom_id(first, "imagine:hist:continue:"), member=me)
    )
    assert st.original.ephemeral
    assert st.original.content.startswith("The next /edit continues from step 1 of 3")

    await h.result(await h.fake.slash("edit", {"prompt": "paint it blue"}))
    branched = h.gw.requests[-1]
    assert models(branched) == [model_parts(1)]  # step 1's turn, signature and all
    assert branched.images == [IMAGES[1]]  # and not steps 2 or 3
    assert [c["role"] for c in branched.json["contents"]] == ["user", "model", "user"]

    gallery = await open_history(h, me)
    assert gallery.embeds[0]["title"] == "Step 4 of 4"
    assert "Latest: the next /edit edits this step. Edits step 1." in str(gallery.embeds[0])
    third = await page_to(h, me, gallery, "Step 3 of 4")
    assert third.files == [("step.png", IMAGES[3])]
    assert "On another branch (Continue from here to edit it). Edits step 2." in str(
        third.embeds[0]
    )


async def test_restore_posts_the_step_and_the_next_edit_replays_its_path(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member()
    await a_line_of_three(h)
    second = await page_to(h, me, await open_history(h, me), "Step 2 of 3")
    st = await h.fake.interaction_result(
        await h.fake.click(second, custom_id(second, "imagine:hist:restore:"), member=me)
    )
    posted = st.original
    assert not posted.ephemeral
    assert posted.files == [("step.png", IMAGES[2])]
    assert posted.content.endswith(
        "restored step 2 of 3: “give it a hat”. The next /edit edits this image."
    )

    await h.result(await h.fake.slash("edit", {"prompt": "add a moon"}))
    restored = h.gw.requests[-1]
    assert models(restored) == [model_parts(1), model_parts(2)]
    assert [c["role"] for c in restored.json["contents"]] == ["user", "model"] * 2 + ["user"]
    assert b64(IMAGES[3]) not in str(restored.json)
    assert await h.store.count_turns(int(h.fake.channel["id"])) == 4


async def test_history_of_an_empty_channel_says_how_to_start(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(await h.fake.slash("history"))
    assert st.original.content == "This channel has no image history yet. Start one with /imagine."
