"""Forms (modals) opened before a restart are answered, not run; a fresh one runs once."""

from __future__ import annotations

from tests.bot.helpers import button, modal_field
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

FIRST = png_bytes(32, 32, (200, 0, 0))
SECOND = png_bytes(32, 32, (0, 200, 0))


async def test_edit_button_form_submitted_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([FIRST])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a kite"}))
    opened = await h.fake.click(st.original, button(st.original, "edit"))
    field_id = await modal_field(h, opened)
    await h.restart()
    late = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {field_id: "add clouds"})
    )
    assert late.original.ephemeral
    assert "open it again" in late.original.content
    assert len(h.gw.requests) == 1


async def test_context_menu_form_submitted_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    posted = await h.fake.post_message("look", images=[("photo.png", FIRST)])
    menu = await h.fake.context_menu("Edit image", posted)
    field_id = await modal_field(h, menu)
    assert menu.modal["custom_id"].startswith("imagine:modal:")
    await h.restart()
    late = await h.fake.interaction_result(await h.fake.submit_modal(menu, {field_id: "blue"}))
    assert late.original.ephemeral and "open it again" in late.original.content
    assert h.gw.requests == []


async def test_a_fresh_form_is_answered_once(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([SECOND])))
    posted = await h.fake.post_message("look", images=[("photo.png", FIRST)])
    menu = await h.fake.context_menu("Edit image", posted)
    field_id = await modal_field(h, menu)
    done = await h.result(await h.fake.submit_modal(menu, {field_id: "make it blue"}))
    assert done.original.files[0][1] == SECOND
    assert len(h.fake.find(f"POST /interactions/{done.id}/*/callback")) == 1
