"""Keep secrets typed into modals out of discord.py's DEBUG log.

discord.py logs every websocket event at DEBUG (``discord.gateway``: "WebSocket Event: %s"),
so a modal submit carrying an API key would reach the log before any bot code runs. Text
inputs whose custom_id starts with ``SECRET_PREFIX`` have their value replaced in the
record (a copy: the same dict is dispatched to the bot right after logging).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.secrets import REDACTED

SECRET_PREFIX = "secret:"
MODAL_SUBMIT = 5


def _scrub(node: Any) -> tuple[Any, bool]:
    if isinstance(node, dict):
        if str(node.get("custom_id", "")).startswith(SECRET_PREFIX) and "value" in node:
            return {**node, "value": REDACTED}, True
        changed = False
        out = {}
        for key, value in node.items():
            out[key], hit = _scrub(value)
            changed |= hit
        return (out, True) if changed else (node, False)
    if isinstance(node, list):
        items = [_scrub(value) for value in node]
        if any(hit for _, hit in items):
            return [value for value, _ in items], True
        return node, False
    return node, False


def redact_event(event: Any) -> Any:
    """The event with secret text-input values replaced, or the event itself if none."""
    if not isinstance(event, dict) or event.get("t") != "INTERACTION_CREATE":
        return event
    data = event.get("d")
    if not isinstance(data, dict) or data.get("type") != MODAL_SUBMIT:
        return event
    return _scrub(event)[0]


class ModalSecretFilter(logging.Filter):
    """Attach to the ``discord.gateway`` logger (where the record is created)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, dict) for a in record.args):
            record.args = tuple(redact_event(a) for a in record.args)
        return True


_FILTER = ModalSecretFilter()
# The websocket event is logged by discord.gateway; the others are belt and braces for
# handlers that log a raw payload when parsing fails.
_LOGGERS = ("discord.gateway", "discord.client", "discord.state")


def install() -> None:
    """Idempotent and process-wide: harmless for every other log record."""
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
