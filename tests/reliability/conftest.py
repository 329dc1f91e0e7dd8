"""Reading the bot's database beside it, for the reliability tests' consistency checks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.harness import BotHarness


def db_path(h: BotHarness) -> Path:
    return Path(h.settings.database_url.removeprefix("sqlite:///"))


def read_db(h: BotHarness, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
    """A second, synchronous reader on the bot's database (WAL lets it read beside the bot)."""
    con = sqlite3.connect(f"file:{db_path(h)}?mode=ro", uri=True)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()
