"""The synced commands keep today's English: names, descriptions, options and choices.

Localizing adds ``*_localizations`` beside them; the English itself is the contract the
members' clients and their muscle memory know, so it must not move (``commands_en.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.harness import BotHarness

CONTRACT = Path(__file__).with_name("commands_en.json")
KEPT = ("type", "name", "description", "required", "choices", "options", "value")


def english(node: Any) -> Any:
    """The English part of a synced command: what a client without localizations shows."""
    if isinstance(node, list):
        return [english(item) for item in node]
    if isinstance(node, dict):
        return {key: english(node[key]) for key in KEPT if key in node}
    return node


async def test_synced_commands_keep_today_s_english(running_bot: BotHarness) -> None:
    synced = sorted(english(running_bot.fake.global_commands), key=lambda c: (c["type"], c["name"]))
    assert synced == json.loads(CONTRACT.read_text(encoding="utf-8"))
