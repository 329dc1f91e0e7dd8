"""A consistent copy of a live SQLite database, by SQLite's online backup API.

A plain file copy of a WAL database can pair a main file with a WAL from another moment;
``Connection.backup`` copies the pages of one read transaction, while the bot writes on.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class BackupReport:
    """What was copied: where to, the schema version and the copy's size."""

    path: Path
    schema_version: int
    size_bytes: int


def backup_sqlite(source: str | os.PathLike[str], target: Path) -> BackupReport:
    """Copy ``source`` to ``target`` (a new file) and prove the copy's integrity."""
    partial = target.with_name(target.name + ".partial")
    # Read-only: a backup must never create or migrate the database it copies.
    src = sqlite3.connect(f"{Path(source).absolute().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(partial)
        try:
            # pages=-1: one step, so the copy is one moment's state whatever commits meanwhile.
            src.backup(dst, pages=-1)
            (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {verdict}")
            (version,) = dst.execute(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version"
            ).fetchone()
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    try:
        _publish(partial, target)
    finally:
        # The partial is a whole copy (stored keys, prompts): it never stays behind.
        partial.unlink(missing_ok=True)
    return BackupReport(path=target, schema_version=int(version), size_bytes=target.stat().st_size)


def _publish(partial: Path, target: Path) -> None:
    """``partial``'s bytes at ``target``; ``FileExistsError`` if a file is there already.

    Exclusive to the end: an earlier backup of the same name is never overwritten.
    """
    try:
        os.link(partial, target)
        return
    except FileExistsError:
        raise
    except OSError:
        pass  # no hard links on this filesystem (vfat, exFAT, SMB): create and copy instead
    fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, partial.stat().st_mode & 0o777)
    try:
        with open(fd, "wb") as out, partial.open("rb") as src:
            shutil.copyfileobj(src, out)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        target.unlink(missing_ok=True)  # ours: O_EXCL made it
        raise
