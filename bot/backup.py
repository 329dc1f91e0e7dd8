"""``python -m bot backup PATH``: the operator's copy of the database, taken while the bot runs."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

from bot.config import DEFAULT_DATABASE_URL
from bot.errors import ConfigError

KEY_REMINDER = (
    "note: keep SECRET_KEY with this copy: without it the servers' API keys in it "
    "cannot be decrypted, and each server would have to set its key again."
)


def _exists(path: str | Path) -> ConfigError:
    return ConfigError(f"{path} already exists; give a new file name or a folder")


def _target(path: str) -> Path:
    """A new file: ``path`` itself, or a dated name in it when it is (or ends as) a folder."""
    target = Path(path)
    if path.endswith(("/", os.sep)) or target.is_dir():
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the folder {path}: {exc.strerror or exc}") from exc
        return target / time.strftime("bot-%Y%m%d-%H%M%S.db")
    if target.exists():
        raise _exists(path)
    if not target.parent.is_dir():
        raise ConfigError(f"the folder {target.parent} does not exist; create it first")
    return target


def run_backup(path: str) -> int:
    """Copy DATABASE_URL's SQLite database to ``path``; prints the copy's path on stdout."""
    from bot.storage.sqlite.backup import backup_sqlite
    from bot.storage.sqlite.store import sqlite_path

    url = (os.environ.get("DATABASE_URL") or "").strip() or DEFAULT_DATABASE_URL
    if not url.startswith("sqlite:"):
        raise ConfigError(
            "backup copies SQLite databases only; DATABASE_URL names another kind: "
            "back it up with that database's own tools"
        )
    source = sqlite_path(url)
    if source == ":memory:" or not Path(source).is_file():
        raise ConfigError(f"there is no database at {source} (DATABASE_URL); nothing to copy")
    target = _target(path)
    try:
        report = backup_sqlite(source, target)
    except FileExistsError as exc:  # made meanwhile, by another backup of the same name
        raise _exists(target) from exc
    except (OSError, sqlite3.Error) as exc:
        cause = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"cannot copy {source} to {target}: {cause}") from exc
    print(report.path)
    print(
        f"backup: {source} (schema v{report.schema_version}) copied to {report.path}, "
        f"{report.size_bytes / 1e6:.1f} MB, integrity ok",
        file=sys.stderr,
    )
    print(KEY_REMINDER, file=sys.stderr)
    return 0
