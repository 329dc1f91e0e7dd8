"""JSON encoding for stored documents, and the sha-shaped strings job documents carry.

Shared by every driver, so that a turn or job written by SQLite reads back the same
from PostgreSQL (``job_record`` reads a job row of either). The blob references inside
stored turns are read with ``bot.gateway.turns.blob_refs``, next to the code that writes
them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from bot.storage.base import JobRecord, ReferenceImage, StoredImage
from bot.storage.errors import InvalidValue

_SHA256 = re.compile(r"[0-9a-f]{64}")


def _default(obj: Any) -> Any:
    # Records are frozen and hold Mappings (often MappingProxyType); orjson only knows dict.
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON")


def dumps(obj: Any) -> str:
    try:
        return orjson.dumps(obj, default=_default).decode()
    except TypeError as exc:  # orjson.JSONEncodeError subclasses TypeError
        raise InvalidValue(str(exc)) from exc


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def job_record(row: Any) -> JobRecord:
    """A ``jobs`` row (by column name: sqlite3.Row, asyncpg.Record) as the record."""
    return JobRecord(
        id=row["id"],
        kind=row["kind"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        user_id=row["user_id"],
        prompt=row["prompt"],
        state=row["state"],
        params=loads(row["params"]),
        result=loads(row["result"]),
        interaction_token=row["interaction_token"],
        message_id=row["message_id"],
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        counted=bool(row["counted"]),
        owner=row["owner"],
        images=row["images"],
        cost=row["cost"],
    )


# A reference with its blob's metadata; each driver adds its WHERE in its own placeholders.
SELECT_REFERENCES = (
    "SELECT r.scope, r.owner_id, r.name, r.sha256, r.added_by, r.created_at,"
    " b.mime, b.width, b.height FROM reference_images r JOIN blobs b USING (sha256)"
)


def reference_record(row: Any) -> ReferenceImage:
    """A ``SELECT_REFERENCES`` row (either driver's) as the record."""
    return ReferenceImage(
        scope=row["scope"],
        owner_id=int(row["owner_id"]),
        name=row["name"],
        image=StoredImage(row["sha256"], row["mime"], row["width"], row["height"]),
        added_by=int(row["added_by"]),
        created_at=float(row["created_at"]),
    )


def _walk(obj: Any) -> Iterator[Any]:
    stack = [obj]
    while stack:
        item = stack.pop()
        yield item
        if isinstance(item, Mapping):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            stack.extend(reversed(item))


def sha_candidates(docs: Iterable[Any]) -> list[str]:
    """Every string in the documents shaped like a sha256, plus explicit blob references.

    Job params and results name images by bare sha ("inputs": [sha, ...]) in shapes the
    store does not own; anything sha-shaped that is also a stored blob counts as a use.
    """
    found: dict[str, None] = {}
    for doc in docs:
        for item in _walk(doc):
            if isinstance(item, str) and _SHA256.fullmatch(item):
                found[item] = None
    return list(found)


def without_shas(doc: Any) -> Any:
    """``doc`` with every sha-shaped string taken out (from lists) or set to None (values).

    What a job keeps of its params once its result is deleted: nothing that names an image.
    """
    if isinstance(doc, Mapping):
        return {k: None if _is_sha(v) else without_shas(v) for k, v in doc.items()}
    if isinstance(doc, (list, tuple)):
        return [without_shas(item) for item in doc if not _is_sha(item)]
    return doc


def _is_sha(item: Any) -> bool:
    return isinstance(item, str) and _SHA256.fullmatch(item) is not None
