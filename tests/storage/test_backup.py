"""``python -m bot backup`` while a writer writes: the copy opens, is intact, one moment's."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.storage import open_store
from bot.storage.sqlite.backup import backup_sqlite
from tests.test_cli import run_cli

ROWS_FIRST = 200


async def _count(path: Path) -> int:
    def count() -> int:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT COUNT(*) FROM usage").fetchone()[0]

    return await asyncio.to_thread(count)


async def test_backup_while_the_store_writes(tmp_path):
    source = tmp_path / "bot.db"
    store = await open_store(f"sqlite:///{source}")
    written = 0
    stop = asyncio.Event()
    under_way = asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while not stop.is_set():
            # One row per user: the row count is the number of committed writes.
            await store.record_usage(guild_id=7, user_id=written + 1, images=1, tokens=10)
            written += 1
            if written == 50:
                under_way.set()

    try:
        for user in range(ROWS_FIRST):
            await store.record_usage(guild_id=7, user_id=10_000 + user, images=1, tokens=1)
        task = asyncio.create_task(writer())
        await asyncio.wait_for(under_way.wait(), timeout=30)
        before = ROWS_FIRST + written
        code, out, err = await run_cli(
            "backup",
            str(tmp_path / "copy.db"),
            env={"DATABASE_URL": f"sqlite:///{source}"},
            cwd=tmp_path,
        )
        after = ROWS_FIRST + written
        stop.set()
        await task
    finally:
        await store.close()

    assert code == 0, err
    assert out == f"{tmp_path / 'copy.db'}\n"
    lines = err.splitlines()
    assert lines[0].startswith(f"backup: {source} (schema v") and lines[0].endswith("integrity ok")
    assert lines[1] == (
        "note: keep SECRET_KEY with this copy: without it the servers' API keys in it "
        "cannot be decrypted, and each server would have to set its key again."
    )
    copy = tmp_path / "copy.db"
    with sqlite3.connect(copy) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert before <= await _count(copy) <= after
    assert after > before  # the writer went on while the copy was taken
    reopened = await open_store(f"sqlite:///{copy}")  # the bot can start on it
    await reopened.close()
    assert not list(tmp_path.glob("*.partial"))


async def test_backup_refuses_to_overwrite_and_names_what_is_missing(tmp_path):
    source = tmp_path / "bot.db"
    (tmp_path / "taken.db").write_bytes(b"earlier")
    env = {"DATABASE_URL": f"sqlite:///{source}"}

    code, _, err = await run_cli("backup", "taken.db", env=env, cwd=tmp_path)
    assert (code, err) == (
        1,
        f"error: there is no database at {source} (DATABASE_URL); nothing to copy\n",
    )

    store = await open_store(f"sqlite:///{source}")
    await store.close()
    code, _, err = await run_cli("backup", "taken.db", env=env, cwd=tmp_path)
    assert (code, err) == (1, "error: taken.db already exists; give a new file name or a folder\n")
    assert (tmp_path / "taken.db").read_bytes() == b"earlier"

    code, _, err = await run_cli(
        "backup", "x.db", env={"DATABASE_URL": "postgresql://u:pw@h/db"}, cwd=tmp_path
    )
    assert (code, err) == (
        1,
        "error: backup copies SQLite databases only; DATABASE_URL names another kind: "
        "back it up with that database's own tools\n",
    )


def test_backup_sqlite_reports_the_copy_and_its_schema(tmp_path):
    with sqlite3.connect(tmp_path / "src.db") as db:
        db.execute("CREATE TABLE schema_version (version, applied_at)")
        db.execute("INSERT INTO schema_version VALUES (3, 0)")
    report = backup_sqlite(tmp_path / "src.db", tmp_path / "one.db")
    assert (report.path, report.schema_version) == (tmp_path / "one.db", 3)


async def test_a_folder_target_gets_a_dated_file_and_is_created(tmp_path):
    source = tmp_path / "bot.db"
    store = await open_store(f"sqlite:///{source}")
    await store.close()
    code, out, err = await run_cli(
        "backup", "backups/", env={"DATABASE_URL": f"sqlite:///{source}"}, cwd=tmp_path
    )
    assert code == 0, err
    (made,) = (tmp_path / "backups").iterdir()
    assert out == f"backups/{made.name}\n" and made.name.startswith("bot-")


def _source(tmp_path: Path) -> Path:
    with sqlite3.connect(tmp_path / "src.db") as db:
        db.execute("CREATE TABLE schema_version (version, applied_at)")
        db.execute("INSERT INTO schema_version VALUES (3, 0)")
    return tmp_path / "src.db"


def test_a_filesystem_without_hard_links_gets_a_copy_and_no_partial(tmp_path, monkeypatch):
    source = _source(tmp_path)

    def no_links(*_: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr("os.link", no_links)
    report = backup_sqlite(source, tmp_path / "copy.db")
    assert report.schema_version == 3
    with sqlite3.connect(tmp_path / "copy.db") as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.db", "src.db"]


def test_a_target_made_meanwhile_is_refused_and_leaves_no_partial(tmp_path, monkeypatch):
    from bot.backup import run_backup
    from bot.errors import ConfigError

    source = _source(tmp_path)

    def lost_race(_: object, target: Path) -> None:
        Path(target).write_bytes(b"the other backup")
        raise FileExistsError(17, "File exists")

    monkeypatch.setattr("os.link", lost_race)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{source}")
    target = tmp_path / "new.db"
    with pytest.raises(ConfigError) as caught:
        run_backup(str(target))
    assert str(caught.value) == f"{target} already exists; give a new file name or a folder"
    assert target.read_bytes() == b"the other backup"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db", "src.db"]
