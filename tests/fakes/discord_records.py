"""What the fake Discord keeps and answers with: limits, errors, messages, interactions."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import re
import time
from collections.abc import (
    Awaitable,
    Callable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass, field
from typing import Any

import yarl
from aiohttp import web

Payload = dict[str, Any]
Handler = Callable[..., Awaitable[tuple[int, Any]]]

API_PREFIX = "/api/v10"
# The waiting helpers take `timeout=` on purpose (ASYNC109): tests read better with it inline.
CLIENT_MAX_SIZE = 256 * 1024 * 1024  # above the largest boosted upload limit (100 MiB)
MESSAGE_CONTENT_MAX = 2000
MODAL_TITLE_MAX = 45
CUSTOM_ID_MAX = 100
TEXT_INPUT_VALUE_MAX = 4000
ACTION_ROWS_MAX = 5
ROW_WIDTH_MAX = 5
FILES_PER_MESSAGE_MAX = 10
FLAG_EPHEMERAL = 64
FLAG_LOADING = 128
FLAG_COMPONENTS_V2 = 1 << 15
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | INTENT_MESSAGE_CONTENT

# Discord JSON error codes used below.
UNKNOWN_CHANNEL, UNKNOWN_MESSAGE, UNKNOWN_WEBHOOK, UNKNOWN_INTERACTION = 10003, 10008, 10015, 10062
CANNOT_EDIT_OTHERS, EMPTY_MESSAGE, INVALID_WEBHOOK_TOKEN, INVALID_FORM_BODY = (
    50005,
    50006,
    50027,
    50035,
)
ENTITY_TOO_LARGE, ALREADY_ACKNOWLEDGED = 40005, 40060

CALLBACK_TYPES = {1, 4, 5, 6, 7, 8, 9, 10, 12}
# Callback types each interaction type accepts (a modal submit takes 6/7 only from a message).
ALLOWED_CALLBACKS = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}


class DiscordError(Exception):
    """An error answer in Discord's JSON error shape."""

    def __init__(self, status: int, code: int, message: str, errors: Payload | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status, self.code, self.message, self.errors = status, code, message, errors

    def body(self) -> Payload:
        body: Payload = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


# How long a "person" takes to fill in a modal; see submit_modal.
MODAL_FILL_SECONDS = 0.05


def form_error(field_path: str, code: str, message: str) -> DiscordError:
    """A 400 "Invalid Form Body" naming the offending field, as Discord nests it."""
    errors: Payload = {"_errors": [{"code": code, "message": message}]}
    for part in reversed(field_path.split(".")):
        errors = {part: errors}
    return DiscordError(400, INVALID_FORM_BODY, "Invalid Form Body", errors)


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py's json_or_text compares the header verbatim.
    return web.Response(
        status=status,
        body=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UploadedFile:
    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RecordedRequest:
    """One request as it crossed the wire, and what the fake answered."""

    seq: int
    method: str
    path: str  # relative to /api/v10, or "/cdn/..." for CDN fetches
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None  # the JSON body, or payload_json of a multipart body
    body: bytes = b""  # raw body when it was neither JSON nor multipart
    files: list[UploadedFile] = field(default_factory=list)
    status: int = 0
    response: Any = None
    # What the request did before a fault answered in its place (``Fault.after_applying``).
    applied: tuple[int, Any] | None = None
    # When it arrived (time.monotonic), for tests that bound how often the bot sends.
    at: float = field(default_factory=time.monotonic)

    @property
    def route(self) -> str:
        return f"{self.method} {self.path}"

    def __repr__(self) -> str:
        return f"<{self.route} -> {self.status} files={[f.filename for f in self.files]}>"


@dataclass
class StoredMessage:
    """A message as the fake serves it; `files` reads attachment bytes back from the CDN."""

    payload: Payload
    _cdn: dict[str, tuple[bytes, str | None]] = field(repr=False)

    @property
    def id(self) -> str:
        return self.payload["id"]

    @property
    def content(self) -> str:
        return self.payload.get("content", "")

    @property
    def flags(self) -> int:
        return self.payload.get("flags", 0)

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    @property
    def loading(self) -> bool:
        return bool(self.flags & FLAG_LOADING)

    @property
    def components(self) -> list[Payload]:
        return self.payload.get("components", [])

    @property
    def embeds(self) -> list[Payload]:
        return self.payload.get("embeds", [])

    @property
    def attachments(self) -> list[Payload]:
        return self.payload.get("attachments", [])

    @property
    def files(self) -> list[tuple[str, bytes]]:
        return [(a["filename"], self._cdn[yarl.URL(a["url"]).path][0]) for a in self.attachments]

    def custom_ids(self) -> list[str]:
        return [c["custom_id"] for c in walk_components(self.components) if "custom_id" in c]


@dataclass
class InteractionState:
    """What the bot did with one interaction: its callback, @original and follow-ups."""

    payload: Payload
    callback: RecordedRequest | None = None
    callback_type: int | None = None
    modal: Payload | None = None
    choices: list[Payload] | None = None
    original: StoredMessage | None = None
    original_edits: int = 0
    original_deleted: bool = False
    followups: list[StoredMessage] = field(default_factory=list)
    expired: bool = False

    @property
    def id(self) -> str:
        return self.payload["id"]

    @property
    def token(self) -> str:
        return self.payload["token"]

    @property
    def type(self) -> int:
        return self.payload["type"]

    @property
    def messages(self) -> list[StoredMessage]:
        return ([self.original] if self.original is not None else []) + self.followups

    @property
    def last_message(self) -> StoredMessage | None:
        return self.messages[-1] if self.messages else None

    def answered(self) -> bool:
        """True once the user sees an answer (not just a defer or "thinking")."""
        if self.callback_type in (4, 7, 8, 9):
            return True
        if self.callback_type == 5:
            return bool(self.followups) or (self.original is not None and not self.original.loading)
        if self.callback_type == 6:
            return bool(self.followups) or self.original_edits > 0
        return False


@dataclass
class Fault:
    """The next `times` requests matching `pattern` get this answer instead of the real one.

    ``after_applying``: the request takes effect first, then this answer replaces the real
    one (Discord accepted it and a proxy failed). ``hang``: after applying, no answer at
    all until ``release`` (the client's timeout decides what it saw).
    """

    pattern: str | re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    hits: int = 0
    after_applying: bool = False
    hang: bool = False
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.released.set()

    @property
    def remaining(self) -> int:
        return self.times - self.hits


@dataclass
class Session:
    """One gateway session: what it was sent (``log``, replayed on RESUME) and its socket."""

    id: str
    seq: int = 0
    log: list[Payload] = field(default_factory=list)
    ws: web.WebSocketResponse | None = None
    shard: tuple[int, int] = (0, 1)  # IDENTIFY's [shard_id, num_shards]

    def events(self, name: str) -> list[Payload]:
        """The ``d`` of every dispatch ``name`` this session was sent."""
        return [f["d"] for f in self.log if f.get("t") == name]


# Discord's sharding limits (discord-api-docs, Gateway § Sharding).
GUILDS_PER_SHARD = 2500
INVALID_SHARD, SHARDING_REQUIRED = 4010, 4011


def shard_of(guild_id: int | str | None, num_shards: int) -> int:
    """The shard Discord sends a server's events to; events without a server go to 0."""
    return 0 if guild_id is None else (int(guild_id) >> 22) % num_shards


@dataclass(frozen=True)
class IdentifyRecord:
    """One accepted IDENTIFY: its shard, rate-limit bucket, and when (``time.monotonic``)."""

    shard_id: int
    num_shards: int
    bucket: int
    at: float


def walk_components(components: Sequence[Payload]) -> Iterator[Payload]:
    for c in components:
        yield c
        yield from walk_components(c.get("components", []))
        if isinstance(c.get("component"), dict):
            yield from walk_components([c["component"]])
        if isinstance(c.get("accessory"), dict):
            yield from walk_components([c["accessory"]])


def truthy(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true")


def matches(
    pattern: str | re.Pattern[str] | Callable[[RecordedRequest], bool], request: RecordedRequest
) -> bool:
    """Match "METHOD /glob" (method optional), a regex on "METHOD /path", or call a predicate."""
    if callable(pattern) and not isinstance(pattern, re.Pattern):
        return bool(pattern(request))
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(request.route) is not None
    method, _, path = pattern.partition(" ")
    if not path:
        method, path = "*", method
    return fnmatch.fnmatchcase(request.method, method) and fnmatch.fnmatchcase(request.path, path)


def named(item: bytes | tuple[str, bytes]) -> tuple[str, bytes]:
    return item if isinstance(item, tuple) else ("image.png", item)
