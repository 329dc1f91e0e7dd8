"""How the PostgreSQL driver lays data out: bytes apart from metadata, no bytea in scans."""

from __future__ import annotations

import asyncio
import hashlib
import os

import pytest

from bot.storage import BlobNotFound, open_store
from bot.storage.blobs import BlobStore
from bot.storage.postgres import PostgresStore
from bot.storage.postgres.blobs import TableBlobs
from tests.postgres import import_asyncpg

asyncpg = import_asyncpg()


async def _fetch(url: str, sql: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(sql, *args)]
    finally:
        await conn.close()


async def test_a_large_blob_is_bytea_in_its_own_table(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    data = os.urandom(12 * 1024 * 1024)
    ref = await pg_store.put_blob(data, "image/png", 4096, 4096)
    assert await pg_store.get_blob(ref.sha256) == data
    assert await _fetch(postgres_url, "SELECT sha256, size, mime FROM blobs") == [
        (hashlib.sha256(data).hexdigest(), len(data), "image/png")
    ]
    assert await _fetch(postgres_url, "SELECT octet_length(data) FROM blob_data") == [(len(data),)]
    # The metadata table has no bytea column at all: turn and job queries never touch bytes.
    columns = await _fetch(
        postgres_url,
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE data_type = 'bytea' AND table_schema = 'public' ORDER BY 1, 2",
    )
    assert columns == [("blob_data", "data"), ("guild_settings", "gateway_key_encrypted")]
    # Images are compressed already: stored out of line, not compressed again.
    assert await _fetch(
        postgres_url,
        "SELECT attstorage::text FROM pg_attribute"
        " WHERE attrelid = 'blob_data'::regclass AND attname = 'data'",
    ) == [("e",)]


async def test_the_table_blob_store_keeps_the_protocol(pg_store: PostgresStore) -> None:
    blobs: BlobStore = pg_store.blobs
    ref = await pg_store.put_blob(b"bytes", "image/png")
    await blobs.put(ref.sha256, b"bytes")  # again: harmless
    assert await blobs.exists(ref.sha256) and await blobs.get(ref.sha256) == b"bytes"
    with pytest.raises(BlobNotFound) as info:
        await blobs.get("0" * 64)
    assert info.value.sha256 == "0" * 64 and not await blobs.exists("0" * 64)
    assert await blobs.delete([ref.sha256, "0" * 64]) == 1
    assert not await blobs.exists(ref.sha256)


async def test_collecting_a_blob_takes_its_bytes_in_the_same_commit(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    await pg_store.put_blob(b"orphan", "image/png")
    assert await pg_store.collect_garbage() == 1
    assert await _fetch(postgres_url, "SELECT count(*) FROM blob_data") == [(0,)]
    assert isinstance(pg_store.blobs, TableBlobs)


async def test_settings_are_jsonb_overrides_and_a_key_column(
    pg_store: PostgresStore, postgres_url: str
) -> None:
    await pg_store.update_settings(5, history_turns=2, gateway_key_encrypted=b"\x00ct")
    await pg_store.update_settings(5, image_size="2K")
    rows = await _fetch(
        postgres_url, "SELECT overrides::text, gateway_key_encrypted FROM guild_settings"
    )
    assert rows == [('{"image_size": "2K", "history_turns": 2}', b"\x00ct")]


async def test_two_processes_saving_different_settings_keep_both(postgres_url: str) -> None:
    # A read-modify-write in the driver would lose one side's change under this race.
    first, second = await open_store(postgres_url), await open_store(postgres_url)
    try:
        await asyncio.gather(
            *(first.update_settings(7, history_turns=3) for _ in range(20)),
            *(second.update_settings(7, image_size="4K") for _ in range(20)),
        )
        got = await first.get_settings(7)
        assert (got.image_size, got.history_turns) == ("4K", 3)
    finally:
        await first.close()
        await second.close()
