"""``TableBlobs``: the PostgreSQL default ``BlobStore``, the bytes in table ``blob_data``.

``blob_data`` refers to its ``blobs`` row (ON DELETE CASCADE): a put belongs inside the
transaction that wrote the metadata, and deleting the metadata deletes the bytes in the
same commit. That is why it runs on whatever it is given, the pool or the connection
of that transaction. An object store, which cannot join a transaction, would instead
be written before the metadata and deleted after it (see ``bot.storage.blobs``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.storage.errors import BlobNotFound


def _count(status: str) -> int:
    """The row count in a command tag such as ``DELETE 3``."""
    return int(status.rsplit(" ", 1)[-1])


class TableBlobs:
    """Bytes in ``blob_data``, over an asyncpg pool or connection (``executor``)."""

    def __init__(self, executor: Any) -> None:
        self._db = executor

    async def put(self, sha256: str, data: bytes) -> None:
        await self._db.execute(
            "INSERT INTO blob_data (sha256, data) VALUES ($1::text, $2::bytea)"
            " ON CONFLICT (sha256) DO NOTHING",
            sha256,
            data,
        )

    async def get(self, sha256: str) -> bytes:
        data = await self._db.fetchval("SELECT data FROM blob_data WHERE sha256 = $1::text", sha256)
        if data is None:
            raise BlobNotFound(sha256)
        return bytes(data)

    async def exists(self, sha256: str) -> bool:
        return bool(
            await self._db.fetchval(
                "SELECT EXISTS (SELECT 1 FROM blob_data WHERE sha256 = $1::text)", sha256
            )
        )

    async def delete(self, shas: Sequence[str]) -> int:
        status = await self._db.execute(
            "DELETE FROM blob_data WHERE sha256 = ANY($1::text[])", list(shas)
        )
        return _count(status)
