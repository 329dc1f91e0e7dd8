"""The SQLite driver: transactions in connection.py, tables by concern, migrations.py."""

from bot.storage.sqlite.store import SQLiteStore, open_sqlite, sqlite_path

__all__ = ["SQLiteStore", "open_sqlite", "sqlite_path"]
