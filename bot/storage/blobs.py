"""``BlobStore``: where image bytes live, apart from their metadata (``blobs`` rows).

Blobs are content-addressed: the key is the SHA-256 of the bytes (lower-case hex), so a
put is idempotent and an object can never change under its key. The metadata (mime,
dimensions, references, grace) always stays in the database; only the bytes go through
this interface, so an object store (S3-compatible: a ``PUT`` with ``If-None-Match: *``
is the idempotent write) can be a second implementation beside the PostgreSQL table
(``bot.storage.postgres.blobs.TableBlobs``). Implementations never decode the bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

__all__ = ["BlobStore"]


class BlobStore(Protocol):
    """Bytes by SHA-256. Every method is a coroutine and safe to call concurrently."""

    async def put(self, sha256: str, data: bytes) -> None:
        """Keep ``data`` under ``sha256``; putting bytes that are there already is harmless."""
        ...

    async def get(self, sha256: str) -> bytes:
        """The bytes under ``sha256``; ``bot.storage.errors.BlobNotFound`` if there are none."""
        ...

    async def exists(self, sha256: str) -> bool:
        """Whether bytes are kept under ``sha256``."""
        ...

    async def delete(self, shas: Sequence[str]) -> int:
        """Remove the bytes under each of ``shas`` (missing ones are skipped); how many went."""
        ...
