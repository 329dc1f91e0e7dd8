"""The gateway key form, submitted when no live form waits for it, is answered."""

from __future__ import annotations

from dataclasses import replace

import discord

from tests.harness import BotHarness
from tests.settings.conftest import answer_text, is_ephemeral


async def test_gateway_key_form_submitted_after_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    # The fake gateway listens on 127.0.0.1, which a server's URL may not be by default.
    await h.restart(image=replace(h.settings.image, allow_private_gateways=True))
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    opened = await h.fake.interaction_result(
        await h.fake.slash(
            "settings gateway", {"url": h.gw.base_url, "dialect": "flat"}, member=admin
        )
    )
    assert opened.modal["custom_id"].startswith("imagine:modal:")
    (field_id,) = [
        c["custom_id"]
        for row in opened.modal["components"]
        for c in row.get("components", [row.get("component")])
    ]
    await h.restart()
    late = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {field_id: "gw-typed-too-late-0123456789"}, member=admin)
    )
    assert is_ephemeral(late) and "open it again" in answer_text(late)
    assert not (await h.store.get_settings(h.guild_id)).has_own_gateway
