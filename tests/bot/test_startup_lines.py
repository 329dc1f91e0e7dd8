"""The invite URL's permissions are the README's, and discord.py's retry log is one line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import aiohttp
import discord

from bot.discord_bot.startup import INVITE_PERMISSIONS, install_reconnect_line, invite_url

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_permissions() -> list[str]:
    """The italic names after "bot permissions" in the README's set-up step."""
    text = " ".join(README.read_text(encoding="utf-8").split())
    listed = re.search(r"bot permissions (.*?)\. Open the generated URL", text)
    assert listed is not None
    return re.findall(r"\*([^*]+)\*", listed.group(1))


def test_invite_asks_for_exactly_the_readme_permissions_and_both_scopes():
    # The Developer Portal's names, as the README writes them, to discord.py's flags.
    flags = {name.lower().replace(" ", "_") for name in readme_permissions()}
    flags = {"view_channel" if f == "view_channels" else f for f in flags}
    assert discord.Permissions(**dict.fromkeys(flags, True)) == INVITE_PERMISSIONS
    assert INVITE_PERMISSIONS.value == 274878024704
    assert invite_url(1234) == (
        "https://discord.com/oauth2/authorize?client_id=1234"
        "&scope=bot+applications.commands&permissions=274878024704"
    )


def test_retry_traceback_becomes_one_warning_below_debug():
    install_reconnect_line()
    install_reconnect_line()  # once is enough: a second call adds nothing
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 9, False, True, None, None, None),
        ConnectionRefusedError(111, "Connection refused"),
    )
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    logger = logging.getLogger("discord.client")
    logger.addHandler(keep)
    try:
        try:
            raise refused
        except aiohttp.ClientError:
            logger.exception("Attempting a reconnect in %.2fs", 3.456)
    finally:
        logger.removeHandler(keep)
        root.setLevel(level)
    [record] = records
    assert record.levelname == "WARNING"
    assert record.getMessage() == (
        "cannot reach Discord at 127.0.0.1:9 (connection refused); next attempt in 3.5 s"
    )
    assert record.exc_info is None
