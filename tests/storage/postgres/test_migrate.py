"""``python -m bot migrate``: a real SQLite database, filled through the Store API, into a
real PostgreSQL; what the PostgreSQL store then returns is what the SQLite one did."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from bot.storage import Store, StoredImage, TurnRecord, open_store
from tests.postgres import import_asyncpg

asyncpg = import_asyncpg()
ROOT = Path(__file__).parents[3]
PASSWORD = "migrate-Secret-9"


async def _cli(*args: str, cwd: Path) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "IMAGINE_ENV_FILE": str(cwd / "no.env"),
        "DATABASE_URL": f"sqlite:///{cwd / 'bot.db'}",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "migrate",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def _fill(store: Store) -> dict:
    """Something in every table, in every shape the bot writes."""
    big = await store.put_blob(os.urandom(3 * 1024 * 1024), "image/png", 2048, 2048)
    small = await store.put_blob(b"small image", "image/webp")
    raw_only = await store.put_blob(b"thought image", "image/png", 8, 8)
    await store.update_settings(
        1, history_turns=3, allowed_channels=[5, 6], gateway_key_encrypted=b"\x00cipher\xff"
    )
    await store.update_settings(2, image_size="4K", gateway_base_url="https://gw.example/v1")
    await store.update_preferences(9, aspect_ratio="16:9", count=2, private=True)
    raw = {"parts": [{"text": "héllo ✓"}, {"inlineData": {"data": {"$blob": raw_only.sha256}}}]}
    turn_ids = [
        await store.append_turn(
            TurnRecord(channel_id=5, guild_id=1, user_id=9, prompt="first", outputs=(big,)), keep=5
        ),
        await store.append_turn(
            TurnRecord(
                channel_id=5,
                guild_id=1,
                user_id=9,
                prompt="second",
                inputs=(big,),
                outputs=(small,),
                model_text="done",
                raw_turn=raw,
                job_id=2,
            ),
            keep=5,
        ),
    ]
    jobs = []
    for state, owner in (("done", "default"), ("running", "blue:1"), ("interrupted", "green")):
        job = await store.create_job(
            kind="edit",
            guild_id=1,
            channel_id=5,
            user_id=9,
            prompt=f"a {state} job",
            params={"inputs": [big.sha256], "model": "m"},
            interaction_token="tok",
            owner=owner,
        )
        jobs.append(await store.update_job(job.id, state=state, result={"outputs": [small.sha256]}))
    await store.update_job(jobs[2].id, counted=False, message_id=1234)
    await store.record_usage(guild_id=1, user_id=9, images=2, tokens=100)
    await store.record_usage(guild_id=None, user_id=9, images=1, tokens=0)
    await store.record_size_check(
        gateway="https://gw.example/v1",
        model="m",
        dialect="flat",
        asked="4K",
        delivered="1024×1024",
        size_honoured=False,
        ratio_honoured=None,
    )
    await store.set_meta("commands", "hash-1")
    # A reference whose blob nothing else holds: it must arrive and be kept.
    alone = await store.put_blob(b"reference only", "image/jpeg", 4, 4)
    for scope, owner in (("member", 9), ("server", 1)):
        await store.add_reference(
            scope=scope, owner_id=owner, name="rex", sha256=alone.sha256, added_by=9, limit=5
        )
    # A moved head (/history): the copy must keep it, or the next edit edits another step.
    assert await store.set_head(5, turn_ids[0])
    return {"blobs": (big, small, raw_only), "turn_ids": turn_ids, "job_ids": [j.id for j in jobs]}


async def _everything(store: Store, made: dict) -> dict:
    """What the store returns for everything ``_fill`` made."""
    return {
        "settings": [await store.get_settings(g) for g in (1, 2, 3)],
        "turns": await store.recent_turns(5, 10),
        "tree": await store.list_turns(5, offset=0, limit=10),
        "head": await store.head_turn(5),
        "jobs": [await store.get_job(j) for j in made["job_ids"]],
        "blobs": [
            (await store.blob_info(b.sha256), await store.get_blob(b.sha256)) for b in made["blobs"]
        ],
        "usage": [await store.usage_summary(g, since=0) for g in (0, 1)],
        "sizes": await store.size_checks("https://gw.example/v1"),
        "meta": await store.get_meta("commands"),
        "preferences": [await store.get_preferences(u) for u in (9, 10)],
        "counts": await store.count_jobs(guild_id=1, user_id=None, since=0),
        "references": await store.resolve_references(guild_id=1, user_id=9, names=["rex"]),
        "server_references": await store.list_references(scope="server", owner_id=1),
    }


async def test_migrate_copies_everything_and_the_store_reads_it_back(
    tmp_path: Path, postgres_url: str
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'bot.db'}"
    source = await open_store(sqlite_url)
    made = await _fill(source)
    before = await _everything(source, made)
    await source.close()

    code, out, err = await _cli("--to", postgres_url, cwd=tmp_path)
    assert (code, err.splitlines()[0].startswith("migrate: ")) == (0, True), err
    assert out.split() == [
        *("guild_settings", "2", "blobs", "4", "blob_data", "4", "turns", "2"),
        *("turn_blobs", "4", "channel_heads", "1", "jobs", "3", "job_blobs", "6", "usage", "2"),
        *("size_observations", "1", "meta", "1", "member_preferences", "1"),
        *("reference_images", "2"),
    ]
    assert "same SECRET_KEY" in err

    target = await open_store(postgres_url)
    try:
        assert await _everything(target, made) == before
        # Ids continue after the copied ones, and the copied blobs stay referenced.
        new = await target.create_job(
            kind="imagine", guild_id=1, channel_id=5, user_id=9, prompt="p", params={}
        )
        assert new.id > max(made["job_ids"])
        turn = TurnRecord(channel_id=5, guild_id=1, user_id=9, prompt="third")
        assert await target.append_turn(turn, keep=5) > max(made["turn_ids"])
        assert await target.collect_garbage() == 0
        ghost = StoredImage("e" * 64, "image/png")
        with pytest.raises(KeyError):
            await target.append_turn(TurnRecord(5, 1, 9, "x", outputs=(ghost,)), keep=5)
    finally:
        await target.close()


async def test_migrate_refuses_a_target_that_is_not_empty(
    tmp_path: Path, postgres_url: str
) -> None:
    source = await open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    await source.set_meta("k", "from sqlite")
    await source.close()
    target = await open_store(postgres_url)
    await target.set_meta("k", "already here")
    await target.close()

    code, out, err = await _cli("--to", postgres_url, cwd=tmp_path)
    assert (code, out) == (1, "")
    assert (
        err.startswith("error: the PostgreSQL database ")
        and "is not empty (meta has 1 rows)" in err
    )
    target = await open_store(postgres_url)
    try:
        assert await target.get_meta("k") == "already here"
    finally:
        await target.close()


async def test_migrate_names_its_mistakes_in_one_line(tmp_path: Path) -> None:
    code, _, err = await _cli("--to", "sqlite:///other.db", cwd=tmp_path)
    assert (code, err) == (
        1,
        "error: --to must be a PostgreSQL URL: postgresql://user:password@host/database\n",
    )
    code, _, err = await _cli("--to", f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", cwd=tmp_path)
    assert code == 1 and "there is no SQLite database at" in err and PASSWORD not in err
    (tmp_path / "bot.db").touch()
    sqlite_url = f"sqlite:///{tmp_path / 'real.db'}"
    await (await open_store(sqlite_url)).close()
    code, _, err = await _cli(
        "--from", sqlite_url, "--to", f"postgresql://u:{PASSWORD}@127.0.0.1:1/db", cwd=tmp_path
    )
    assert code == 1 and "the connection was refused" in err and PASSWORD not in err
    code, _, err = await _cli(cwd=tmp_path)
    assert code == 2 and "--to" in err
