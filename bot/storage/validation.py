"""The checks every driver's arguments pass, before any driver sees them.

``bot.storage.driver.Driver`` calls these from its public methods, so a driver only
implements the storing; settings have their own validator table in ``settings.py``.
Each check returns the value as drivers should store it, or raises ``InvalidValue``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from bot.gateway.turns import blob_refs
from bot.limits import MAX_REFERENCE_NAME_CHARS, REFERENCE_NAME_PATTERN, is_amount
from bot.storage.base import JOB_STATES, OWNER_PATTERN, REFERENCE_SCOPES, TurnRecord
from bot.storage.errors import InvalidValue

# The bot's bookkeeping (get_meta / set_meta): short names, values like hashes and ids.
MAX_META_KEY_CHARS = 100
MAX_META_VALUE_CHARS = 10_000

# The fields of a job ``update_job`` may change; the rest is fixed at creation.
JOB_FIELDS = frozenset(
    {
        "state",
        "params",
        "result",
        "interaction_token",
        "message_id",
        "started_at",
        "finished_at",
        "counted",
        "images",
        "cost",
    }
)
MAX_BATCH = 10_000
# What a NUL in stored text becomes: PostgreSQL refuses U+0000 in text and jsonb, and
# both drivers must store the same thing (SQLite would keep it).
NUL_REPLACEMENT = "\ufffd"
_OWNER = re.compile(OWNER_PATTERN)
# A turn's images by role and position: what the driver records as its references.
BlobRef = tuple[str, int, str]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_id(name: str, value: Any, *, nullable: bool = False) -> Any:
    """A Discord id (or a job id): a whole number >= 0; None only if ``nullable``."""
    if value is None and nullable:
        return None
    if not _is_int(value) or value < 0:
        raise InvalidValue(f"{name} must be a whole number >= 0, got {value!r}")
    return value


def check_count(name: str, value: Any) -> int:
    if not _is_int(value) or value < 0:
        raise InvalidValue(f"{name} must be a whole number >= 0, got {value!r}")
    return int(value)


def check_cost(name: str, value: Any) -> float:
    """A cost in dollars: a finite number of 0 or more."""
    if not is_amount(value):
        raise InvalidValue(f"{name} must be a number of dollars >= 0, got {value!r}")
    return float(value)


def without_nul(text: str) -> str:
    """``text`` with every NUL replaced by U+FFFD (the same object when it has none)."""
    return text.replace("\x00", NUL_REPLACEMENT) if "\x00" in text else text


def doc_without_nul(doc: Any) -> Any:
    """A JSON document with NUL replaced in every string and key; unchanged parts kept.

    Returns ``doc`` itself when no string in it has a NUL (the usual case: no copy).
    """
    if isinstance(doc, str):
        return without_nul(doc)
    if isinstance(doc, Mapping):
        items = [(doc_without_nul(k), doc_without_nul(v)) for k, v in doc.items()]
        if all(k is k0 and v is v0 for (k, v), (k0, v0) in zip(items, doc.items(), strict=True)):
            return doc
        return dict(items)
    if isinstance(doc, (list, tuple)):
        cleaned = [doc_without_nul(item) for item in doc]
        if all(a is b for a, b in zip(cleaned, doc, strict=True)):
            return doc
        return cleaned if isinstance(doc, list) else tuple(cleaned)
    return doc


def check_text(name: str, value: Any, *, required: bool = False) -> str:
    if not isinstance(value, str) or (required and not value):
        raise InvalidValue(f"{name} must be a {'non-empty ' if required else ''}string")
    return value


def check_meta_key(key: Any) -> str:
    if not isinstance(key, str) or not 0 < len(key) <= MAX_META_KEY_CHARS:
        raise InvalidValue(f"a meta key must be 1 to {MAX_META_KEY_CHARS} characters")
    return key


def check_meta_value(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_META_VALUE_CHARS):
        raise InvalidValue(f"a meta value must be None or at most {MAX_META_VALUE_CHARS} chars")
    return value


def check_time(name: str, value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidValue(f"{name} must be a time in seconds, got {value!r}")
    return float(value)


def check_optional(name: str, value: Any, kinds: type | tuple[type, ...]) -> Any:
    if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
        raise InvalidValue(f"{name} has the wrong type: {type(value).__name__}")
    return value


def check_owner(owner: Any) -> str:
    if not isinstance(owner, str) or not _OWNER.fullmatch(owner):
        raise InvalidValue(f"a job owner must match {OWNER_PATTERN}, got {owner!r}")
    return owner


def check_state(state: Any) -> str:
    if state not in JOB_STATES:
        raise InvalidValue(f"job state must be one of {', '.join(JOB_STATES)}, got {state!r}")
    return str(state)


def check_mapping(name: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidValue(f"{name} must be a mapping")
    return value


def check_blob(data: Any, mime: Any, width: Any, height: Any) -> tuple[bytes, str, int, int]:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("blob data must be bytes")
    if not isinstance(mime, str) or not mime:
        raise InvalidValue("blob mime type must be a non-empty string")
    width, height = int(width), int(height)
    if width < 0 or height < 0:
        raise InvalidValue("blob dimensions must not be negative")
    return bytes(data) if not isinstance(data, bytes) else data, mime, width, height


_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(sha: Any) -> str:
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise InvalidValue("a blob digest must be 64 lower-case hex digits")
    return sha


def check_keep(keep: Any) -> int:
    if not _is_int(keep) or keep < 0:
        raise InvalidValue(f"keep must be a whole number >= 0, got {keep!r}")
    return int(keep)


def check_turn(turn: Any) -> list[BlobRef]:
    """The turn's blob references (inputs, outputs, raw), after checking its fields."""
    if not isinstance(turn, TurnRecord):
        raise InvalidValue("a turn must be a TurnRecord")
    check_id("channel_id", turn.channel_id)
    check_id("guild_id", turn.guild_id, nullable=True)
    check_id("user_id", turn.user_id)
    check_id("job_id", turn.job_id, nullable=True)
    check_text("prompt", turn.prompt)
    check_text("model_text", turn.model_text)
    if turn.raw_turn is not None:
        check_mapping("raw_turn", turn.raw_turn)
    if turn.created_at is not None:
        check_time("created_at", turn.created_at)
    return [
        *(("input", i, img.sha256) for i, img in enumerate(turn.inputs)),
        *(("output", i, img.sha256) for i, img in enumerate(turn.outputs)),
        *(("raw", i, sha) for i, sha in enumerate(sorted(blob_refs(turn.raw_turn)))),
    ]


def check_new_job(
    *,
    kind: Any,
    guild_id: Any,
    channel_id: Any,
    user_id: Any,
    prompt: Any,
    params: Any,
    interaction_token: Any,
    owner: Any,
    images: Any = 1,
) -> None:
    check_text("job kind", kind, required=True)
    check_id("guild_id", guild_id, nullable=True)
    check_id("channel_id", channel_id)
    check_id("user_id", user_id)
    check_text("prompt", prompt)
    check_mapping("params", params)
    check_optional("interaction_token", interaction_token, str)
    check_owner(owner)
    check_count("images", images)


def check_job_changes(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes with each value checked; ``counted`` as a bool, documents as mappings."""
    unknown = sorted(set(changes) - JOB_FIELDS)
    if unknown:
        raise InvalidValue(f"unknown job field(s): {', '.join(unknown)}")
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "state":
            values[name] = check_state(value)
        elif name in ("params", "result"):
            values[name] = check_mapping(name, value)
        elif name == "interaction_token":
            values[name] = check_optional(name, value, str)
        elif name == "message_id":
            values[name] = check_optional(name, value, int)
        elif name == "counted":
            if not isinstance(value, bool):
                raise InvalidValue("counted must be True or False")
            values[name] = value
        elif name == "images":
            values[name] = check_count(name, value)
        elif name == "cost":
            values[name] = None if value is None else check_cost(name, value)
        else:  # started_at, finished_at
            values[name] = None if value is None else check_time(name, value)
    return values


def check_verdict(name: str, value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise InvalidValue(f"{name} must be True, False or None, got {value!r}")
    return value


def check_batch(batch: Any) -> int:
    if not _is_int(batch) or not 1 <= batch <= MAX_BATCH:
        raise InvalidValue(f"batch must be a whole number from 1 to {MAX_BATCH}, got {batch!r}")
    return int(batch)


_REFERENCE_NAME = re.compile(REFERENCE_NAME_PATTERN)


def check_reference_name(name: Any) -> str:
    """A reference's name, lower-cased: one word of letters, digits, _ and -."""
    if not isinstance(name, str) or not _REFERENCE_NAME.fullmatch(name.lower()):
        raise InvalidValue(
            f"a reference name is one word of 1-{MAX_REFERENCE_NAME_CHARS} letters, digits, "
            f"_ or -, got {name!r}"
        )
    return name.lower()


def check_reference_scope(scope: Any) -> str:
    if scope not in REFERENCE_SCOPES:
        raise InvalidValue(f"scope must be one of {', '.join(REFERENCE_SCOPES)}, got {scope!r}")
    return str(scope)
