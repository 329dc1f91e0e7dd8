"""discord.py logs raw websocket events at DEBUG; secret modal inputs must not reach the log."""

from __future__ import annotations

import logging

import pytest

from cogs.settings import redaction
from cogs.settings.gateway_modal import KEY_INPUT_ID

KEY = "sk-live-5ecret-value-0123456789"


def _modal_submit(value: str, custom_id: str = KEY_INPUT_ID) -> dict:
    row = {"type": 1, "components": [{"type": 4, "custom_id": custom_id, "value": value}]}
    label = {"type": 18, "component": {"type": 4, "custom_id": custom_id, "value": value}}
    return {
        "op": 0,
        "t": "INTERACTION_CREATE",
        "s": 7,
        "d": {"type": 5, "data": {"custom_id": "settings:gateway:1", "components": [row, label]}},
    }


def test_secret_inputs_are_redacted_in_a_copy() -> None:
    event = _modal_submit(KEY)
    redacted = redaction.redact_event(event)
    assert KEY not in repr(redacted) and redaction.REDACTED in repr(redacted)
    # The dispatched event is the same dict: it must still carry the key for the bot.
    assert event["d"]["data"]["components"][0]["components"][0]["value"] == KEY


def test_other_events_pass_untouched() -> None:
    plain = _modal_submit("a red bicycle", custom_id="edit_prompt")
    assert redaction.redact_event(plain) is plain
    ready = {"op": 0, "t": "READY", "d": {"custom_id": "secret:x", "value": "y"}}
    assert redaction.redact_event(ready) is ready


def test_filter_on_discord_gateway_logger(caplog: pytest.LogCaptureFixture) -> None:
    redaction.install()
    redaction.install()  # idempotent
    assert logging.getLogger("discord.gateway").filters.count(redaction._FILTER) == 1
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("discord.gateway").debug(
            "For Shard ID %s: WebSocket Event: %s", None, _modal_submit(KEY)
        )
    assert caplog.records and KEY not in caplog.text and redaction.REDACTED in caplog.text
