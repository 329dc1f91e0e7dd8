from __future__ import annotations

import sqlite3
from pathlib import Path

from bot.storage import Store


class Clock:
    """A hand-driven clock, so windows and days are exact."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the file with a separate plain connection: what is on disk, not in the store."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


async def history_was_a_line(store: Store) -> None:
    """After the edit-tree migration: channel 5's turns a, b, c (ids 1, 3, 4) and channel
    6's one turn, inserted by an older schema, are each channel's line of parents."""
    path = await store.recent_turns(5, 10)
    assert [(t.prompt, t.parent_id) for t in path] == [("a", None), ("b", 1), ("c", 3)]
    assert [(t.prompt, t.parent_id) for t in await store.recent_turns(6, 10)] == [("other", None)]
    assert await store.set_head(5, 1)
    assert [t.prompt for t in await store.recent_turns(5, 10)] == ["a"]
