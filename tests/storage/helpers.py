from __future__ import annotations

import sqlite3
from pathlib import Path


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
