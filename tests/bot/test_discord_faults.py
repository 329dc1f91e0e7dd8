"""Discord faults, autocomplete and unexpected errors."""

from __future__ import annotations

import pytest

from bot.discord_bot.errors import GENERIC_FAILURE
from bot.i18n import render
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(24, 24, (5, 100, 200))


async def test_result_edit_survives_a_discord_500(running_bot: BotHarness) -> None:
    h = running_bot
    h.fake.server_error("PATCH /webhooks/*/messages/@original", times=1)
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.original.files[0][1] == IMAGE
    assert [r.status for r in h.fake.find("PATCH /webhooks/*/messages/@original")][:2] == [500, 200]


async def test_model_autocomplete_lists_gateway_models(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(
        await h.fake.autocomplete("imagine", {"prompt": "x", "model": "pro"}, "model")
    )
    names = [c["value"] for c in st.choices]
    assert names and all("pro" in n for n in names)
    assert "gemini-3-pro-image-preview" in names


async def test_unexpected_error_gets_a_generic_sentence_and_a_failed_job(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot

    async def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(h.bot.gateway, "generate", broken)
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert st.last_message.content == render(GENERIC_FAILURE)
    assert "secret internals" not in st.last_message.content
    job = await h.store.get_job(1)
    assert job.state == "failed"
