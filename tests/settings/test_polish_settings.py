"""/settings as an admin reads it: numbers agree with their nouns, and 0 says what it means."""

from __future__ import annotations

from tests.settings.conftest import Harness, answer_text


def _history_field(state) -> str:
    embed = (
        state.last_message.embeds[0]
        if state.last_message
        else state.callback.json["data"]["embeds"][0]
    )
    return next(f["value"] for f in embed["fields"] if f["name"] == "History")


async def test_history_of_one_turn_reads_naturally(harness: Harness) -> None:
    confirm = await harness.run("history", {"turns": 1})
    assert "1 turns" not in answer_text(confirm)
    assert "the last turn" in answer_text(confirm)
    shown = _history_field(await harness.run("show"))
    assert shown.startswith("1 turn ") or shown.startswith("1 turn kept")


async def test_history_off_says_what_edits_still_do(harness: Harness) -> None:
    await harness.run("history", {"turns": 0})
    shown = _history_field(await harness.run("show"))
    assert "0 turns" not in shown
    assert shown.lower().startswith("off") and "latest image" in shown
