"""Small readers of what the fake Discord saw, shared by the bot tests."""

from __future__ import annotations

from typing import Any

from tests.harness import BotHarness


def button(message: Any, action: str) -> str:
    """The custom_id of a result's button for this action (reroll, edit, up2k, up4k)."""
    return next(i for i in message.custom_ids() if i.startswith(f"imagine:{action}:"))


async def modal_field(h: BotHarness, opened: Any) -> str:
    """Wait for the modal this interaction opened; the custom_id of its one text input."""
    await h.fake.wait_for_interaction_reply(opened)
    assert opened.callback_type == 9, opened.original and opened.original.content
    (field_id,) = [
        c["custom_id"] for row in opened.modal["components"] for c in row.get("components", [])
    ]
    return field_id
