"""The one storage interface (``Store``) and the records it speaks in.

Everything the bot persists goes through ``Store``: per-guild settings, per-channel
edit history, content-addressed image blobs, jobs and usage. Nothing outside
``bot/storage`` writes SQL. SQLite implements it today (``bot/storage/sqlite``);
every driver subclasses ``bot.storage.driver.Driver``, which checks every argument
(``bot.storage.validation``) and raises the typed errors (``bot.storage.errors``)
before the driver sees anything, and passes ``tests/storage`` (run per driver).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# Re-exported: part of the storage vocabulary.
from bot.limits import DEFAULT_MAX_COUNT, DEFAULT_QUEUE
from bot.limits import DEFAULT_OWNER as DEFAULT_OWNER
from bot.limits import OWNER_PATTERN as OWNER_PATTERN

# Registered defaults: a guild with no row gets exactly these.
DEFAULT_HISTORY_TURNS = 6


@dataclass(frozen=True)
class GuildSettings:
    guild_id: int
    model: str | None = None  # None: the bot's IMAGE_MODEL
    aspect_ratio: str | None = None
    image_size: str | None = None
    history_turns: int = DEFAULT_HISTORY_TURNS
    gateway_base_url: str | None = None  # None: the bot's default gateway
    gateway_dialect: str | None = None
    gateway_stream: str | None = None  # None: the bot's IMAGE_API_STREAM
    gateway_key_encrypted: bytes | None = field(default=None, repr=False)
    allowed_channels: tuple[int, ...] = ()  # empty: everywhere
    user_concurrency: int = 2
    guild_concurrency: int = 10
    user_hourly: int | None = None  # None: unlimited
    user_daily: int | None = None
    guild_hourly: int | None = None
    guild_daily: int | None = None
    max_count: int = DEFAULT_MAX_COUNT  # images one /imagine may ask for (count:)
    privacy: str = "members"  # bot.types.PRIVACY_MODES: who decides whether results are private
    queue_limit: int = DEFAULT_QUEUE  # jobs that may wait for room; 0: refused at once
    monthly_budget: float | None = None  # dollars per calendar month (UTC); None: no budget

    @property
    def has_own_gateway(self) -> bool:
        return bool(self.gateway_base_url and self.gateway_key_encrypted)


SETTING_NAMES = frozenset(GuildSettings.__dataclass_fields__) - {"guild_id"}


@dataclass(frozen=True)
class MemberPreferences:
    """A member's own defaults (``/preferences``), the same in every server; None: not set.

    They apply over the server's defaults, never over its limits, and an option given in
    a command wins over them (``bot.jobs.preferences.apply_preferences``).
    """

    user_id: int
    aspect_ratio: str | None = None
    image_size: str | None = None
    model: str | None = None
    count: int | None = None  # images per job
    private: bool | None = None  # results only the member sees

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in PREFERENCE_NAMES)


PREFERENCE_NAMES = ("aspect_ratio", "image_size", "model", "count", "private")


@dataclass(frozen=True)
class DeletedResult:
    """What ``delete_result`` removed: the job (as it is now), its turns and its images."""

    job: JobRecord
    turns: int
    blobs: int


@dataclass(frozen=True)
class StoredImage:
    sha256: str
    mime: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class TurnRecord:
    """One turn of a channel's history as stored (images by reference)."""

    channel_id: int
    guild_id: int | None
    user_id: int
    prompt: str
    inputs: tuple[StoredImage, ...] = ()
    outputs: tuple[StoredImage, ...] = ()
    model_text: str = ""
    raw_turn: Mapping[str, Any] | None = None  # with {"$blob": sha} references
    job_id: int | None = None
    id: int | None = None
    created_at: float | None = None
    # The turn this one edited (None: a root); set by ``append_turn`` from the channel's head.
    parent_id: int | None = None


# Whose a stored reference image is: a member's own (owner: the user id, in every
# server) or a server's (owner: the guild id, for all its members).
REFERENCE_SCOPES = ("member", "server")


@dataclass(frozen=True)
class ReferenceImage:
    """A named image in the reference library (``/ref``): the blob it keeps alive."""

    scope: str  # REFERENCE_SCOPES
    owner_id: int
    name: str  # lower-case, ``bot.limits.REFERENCE_NAME_PATTERN``
    image: StoredImage
    added_by: int
    created_at: float = 0.0


JOB_STATES = ("queued", "running", "done", "failed", "interrupted")
UNFINISHED_STATES = ("queued", "running")
FINISHED_STATES = ("done", "failed", "interrupted")
# DEFAULT_OWNER, OWNER_PATTERN: in bot.limits, so bot.config needs no storage import.


@dataclass(frozen=True)
class JobRecord:
    id: int
    kind: str  # imagine | edit | reroll | upscale
    guild_id: int | None
    channel_id: int
    user_id: int
    prompt: str
    state: str
    params: Mapping[str, Any] = field(default_factory=dict)  # model, ratio, size, inputs (shas)
    result: Mapping[str, Any] = field(default_factory=dict)  # output shas, text, error
    interaction_token: str | None = field(default=None, repr=False)
    message_id: int | None = None  # the Discord message holding the result
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    counted: bool = True  # toward the member's and the server's quotas
    owner: str = DEFAULT_OWNER  # the instance (INSTANCE_NAME) that runs it
    # What a counted job weighs in the quotas: one per image asked (/imagine count:N).
    images: int = 1
    # What it cost in dollars (bot.costs), once it ended; None: not priced.
    cost: float | None = None


@dataclass(frozen=True)
class UsageRow:
    user_id: int
    jobs: int
    images: int
    tokens: int
    cost: float = 0.0  # dollars


@dataclass(frozen=True)
class SizeObservation:
    """What a gateway delivered for a size/ratio request: the latest per model and dialect."""

    gateway: str  # the base URL without credentials or query (bot.gateway.sizes)
    model: str
    dialect: str
    asked: str  # "4K 16:9"
    delivered: str  # "1024×1024"
    size_honoured: bool | None  # None: no size was asked
    ratio_honoured: bool | None
    seen_at: float

    @property
    def honoured(self) -> bool:
        return self.size_honoured is not False and self.ratio_honoured is not False


class Store(Protocol):
    """What the bot needs from a database. Every method but ``close`` is a coroutine.

    Each method is atomic: it commits whole or not at all, and a concurrent reader sees
    its effect whole or not at all. Records come back as frozen dataclasses; the
    mappings in them are plain JSON values (tuples read back as lists). Times are the
    store's clock (``time.time`` unless a test gives another), in seconds.

    Text: every string stored (in text fields and inside JSON documents, keys too) has
    each NUL (U+0000) replaced by U+FFFD, on every driver: PostgreSQL refuses NUL in
    text, and a prompt or a model's answer that holds one must not fail the job. What
    is read back is what was stored; settings refuse NUL (their values are printable).

    Errors: a refused argument raises ``InvalidValue`` (``InvalidSetting`` for
    settings), a ``ValueError``; a missing job or blob raises ``JobNotFound`` /
    ``BlobNotFound``, ``KeyError``s; both are ``StorageError``s (``bot.storage.errors``).
    A database that cannot be opened raises ``ConfigError`` naming DATABASE_URL; one
    that stops answering once open (connection lost, server restarting, too many
    connections, a statement timeout) raises ``StorageUnavailable``, whose sentence a
    member may read.
    """

    async def close(self) -> None:
        """Close the connections; calling it again does nothing. Writes in flight finish."""
        ...

    # settings

    async def get_settings(self, guild_id: int) -> GuildSettings:
        """The guild's settings: the registered defaults with the values an admin set.

        Never raises for an unknown guild (it gets the defaults) and writes nothing. A
        stored value that a newer version no longer accepts reads as its default.
        """
        ...

    async def update_settings(self, guild_id: int, **changes: Any) -> GuildSettings:
        """Set the named settings (None: back to the default) and return the result.

        Every value is checked first (``bot.storage.settings.VALIDATORS``); one bad or
        unknown name raises ``InvalidSetting`` and changes nothing. Names not given keep
        their stored values. Only values an admin set are stored, so a default changed
        in code reaches every guild that never chose otherwise.
        """
        ...

    async def rotate_gateway_keys(self, rotate: Callable[[bytes], bytes | None]) -> int:
        """Replace each stored gateway key ciphertext by ``rotate(key)``; returns how many.

        ``rotate`` returning None leaves that key; a result that is not valid ciphertext
        raises ``InvalidSetting``. All keys change in one transaction, or none does.
        """
        ...

    # content-addressed images

    async def put_blob(
        self, data: bytes, mime: str, width: int = 0, height: int = 0, *, sha256: str | None = None
    ) -> StoredImage:
        """Store image bytes under their SHA-256 (lower-case hex) and return the reference.

        Idempotent: putting the same bytes again stores nothing new, keeps the first
        mime, fills in dimensions still unknown (0), and restarts the blob's grace (see
        ``collect_garbage``). ``sha256``: the digest of ``data`` when the caller has it
        already (a worker took it while parsing), so the main process does not hash
        megabytes again; it is trusted, not checked. ``TypeError`` if data is not bytes;
        ``InvalidValue`` for an empty mime, negative dimensions or a digest that is not
        64 lower-case hex digits.
        """
        ...

    async def get_blob(self, sha256: str) -> bytes:
        """The bytes stored under the digest; ``BlobNotFound`` if there are none."""
        ...

    async def blob_info(self, sha256: str) -> StoredImage:
        """The stored mime and dimensions, without the bytes; ``BlobNotFound`` if unknown."""
        ...

    async def collect_garbage(self) -> int:
        """Delete blobs no turn, job or reference refers to, put longer ago than the grace.

        Returns how many went. The grace (an hour by default) covers the gap between
        ``put_blob`` and the ``append_turn`` / job update that will refer to the blob.
        Pruning history and expiring jobs run this in their own transaction.
        """
        ...

    # per-channel history

    async def append_turn(self, turn: TurnRecord, keep: int) -> int:
        """Add a turn to its channel, keep only the channel's newest ``keep``; its id.

        Ids grow with every append, in the order the appends committed. The images in
        ``inputs``, ``outputs`` and ``{"$blob": sha}`` references in ``raw_turn`` must
        have been put: otherwise ``BlobNotFound`` and nothing is stored. ``keep=0``
        stores and drops the turn (the channel keeps nothing); other channels are never
        touched; blobs only the dropped turns used are collected. ``InvalidValue`` for a
        negative keep.
        """
        ...

    async def recent_turns(self, channel_id: int, limit: int) -> Sequence[TurnRecord]:
        """The last ``limit`` turns of the path from the root to the channel's head, oldest
        first, with their images in order.

        The history is a tree: each turn's parent is the head when it was appended, and
        the head is the newest turn unless ``set_head`` moved it (then it stays there
        until the next append moves it to the new turn). ``limit <= 0`` or an unknown
        channel gives an empty sequence.
        """
        ...

    async def turn_path(self, channel_id: int, turn_id: int, limit: int) -> Sequence[TurnRecord]:
        """Like ``recent_turns`` but ending at ``turn_id``: root first, the last ``limit``.

        Empty when the turn is not (or no longer) in that channel.
        """
        ...

    async def set_head(self, channel_id: int, turn_id: int) -> bool:
        """Make ``turn_id`` the channel's head: the next turn appended is its child.

        False (nothing changes) when the turn is not in that channel.
        """
        ...

    async def head_turn(self, channel_id: int) -> int | None:
        """The id of the channel's head turn; None when the channel keeps no turns."""
        ...

    async def list_turns(self, channel_id: int, *, offset: int, limit: int) -> Sequence[TurnRecord]:
        """The channel's turns on every branch, newest first: ``limit`` after ``offset``."""
        ...

    async def count_turns(self, channel_id: int) -> int:
        """How many turns the channel keeps, on every branch."""
        ...

    async def reset_history(self, channel_id: int) -> int:
        """Delete the channel's turns (and the blobs only they used); returns how many."""
        ...

    # jobs

    async def create_job(
        self,
        *,
        kind: str,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        prompt: str,
        params: Mapping[str, Any],
        interaction_token: str | None = None,
        owner: str = DEFAULT_OWNER,
        images: int = 1,
    ) -> JobRecord:
        """A new job, state "queued", ``created_at`` now, counted, owned by ``owner``.

        ``images``: what it weighs in the quotas (``count_jobs``), at least 1.

        Ids are unique and grow with every job. Stored images named in ``params`` (by
        sha, anywhere in it) are kept as long as the job is. ``InvalidValue`` for an empty
        kind, an owner not matching ``OWNER_PATTERN``, or params that are not JSON.
        """
        ...

    async def update_job(
        self, job_id: int, *, fence_owner: str | None = None, **changes: Any
    ) -> JobRecord:
        """Change a job's ``state``, ``params``, ``result``, ``interaction_token``,
        ``message_id``, ``started_at``, ``finished_at``, ``counted``, ``images`` or ``cost``; the
        job after.

        Entering "running" stamps ``started_at`` (if unset) and entering a finished state
        stamps ``finished_at`` now, unless the change gives them. ``InvalidValue`` for an
        unknown field or a bad value (nothing changes); ``JobNotFound`` for an unknown id.

        ``fence_owner``: change the job only if it is still that owner's and queued or
        running, in the same statement; otherwise ``JobFenced`` and the row is unchanged.
        A process whose lease lapsed cannot overwrite the survivor that took the job over.
        """
        ...

    async def get_job(self, job_id: int) -> JobRecord | None:
        """The job, or None if it never existed or has expired."""
        ...

    async def interrupt_running_jobs(
        self, owner: str, *, queued: bool = False
    ) -> Sequence[JobRecord]:
        """Mark the owner's running jobs interrupted; returns them by id.

        Queued jobs are left queued: they never reached the gateway, so they go on. With
        ``queued=True`` they are interrupted too: for a dead owner whose waiting jobs no
        other process can resume, so they are reported rather than left queued forever.

        For start-up: a restarted instance finds the jobs its previous run left. Jobs of
        other owners are not touched (they may be running in another process). The
        interrupted jobs stop counting toward quotas and are stamped finished now.
        """
        ...

    async def adopt_queued_jobs(self, owner: str, new_owner: str) -> Sequence[JobRecord]:
        """Move ``owner``'s queued jobs to ``new_owner`` in one statement; returns them by id.

        For a survivor taking over a dead (or departed) process's line: a job is moved
        only while it is still ``owner``'s and queued, so of two survivors each job goes
        to exactly one, and a job that started or finished meanwhile stays where it is.
        """
        ...

    async def delete_jobs_before(self, before: float) -> int:
        """Delete jobs that finished before ``before`` and the blobs only they used.

        By finish time, so a job a restart just interrupted keeps its "Run again" button;
        queued and running jobs are never removed. Returns how many jobs went.
        """
        ...

    async def count_jobs(self, *, guild_id: int | None, user_id: int | None, since: float) -> int:
        """The images of counted jobs created at or after ``since`` (each job weighs its
        ``images``); a None filter matches every value."""
        ...

    async def list_jobs(
        self,
        *,
        user_id: int | None = None,
        guild_id: int | None = None,
        states: Sequence[str] = (),
        since: float | None = None,
        counted: bool | None = None,
        limit: int = 25,
    ) -> Sequence[JobRecord]:
        """Jobs matching every filter given (None or empty: any), oldest first, at most ``limit``.

        ``since``: created at or after; ``counted``: toward quotas or not. ``InvalidValue``
        for an unknown state or a ``limit`` outside 1-100.
        """
        ...

    async def delete_result(self, job_id: int) -> DeletedResult:
        """Take a job's result away: its turns leave the history, and its images go.

        In one transaction: the channel history loses the job's turns wherever they are
        (an edit then goes on from the turn before); the job keeps its row, so it still
        counts toward quotas, with no inputs and ``result == {"deleted": True}``; and
        every image the job or its turns used that nothing else uses now is deleted at
        once, whatever its grace, unless something put it again after the job finished.
        Calling it again removes nothing more. ``JobNotFound`` for an unknown job.
        """
        ...

    # member preferences

    async def get_preferences(self, user_id: int) -> MemberPreferences:
        """The member's preferences; all None for a member who set none (writes nothing)."""
        ...

    async def update_preferences(self, user_id: int, **changes: Any) -> MemberPreferences:
        """Set the named preferences (None: unset) and return them all.

        Names are ``PREFERENCE_NAMES``; one bad value or unknown name raises
        ``InvalidSetting`` and changes nothing. Unsetting every one removes the member's row.
        """
        ...

    # the reference library

    async def add_reference(
        self, *, scope: str, owner_id: int, name: str, sha256: str, added_by: int, limit: int
    ) -> ReferenceImage:
        """Name a stored image in the scope's library; the reference as stored.

        The name is compared lower-case. ``ReferenceExists`` if the owner has one by that
        name, ``TooManyReferences`` if the owner has ``limit`` already (both checked in
        the insert's transaction); ``BlobNotFound`` if the image was never put. The blob
        then stays as long as the reference does, whatever expires around it.
        ``InvalidValue`` for an unknown scope or a name outside the rule.
        """
        ...

    async def list_references(self, *, scope: str, owner_id: int) -> Sequence[ReferenceImage]:
        """The owner's references in the scope, by name."""
        ...

    async def remove_reference(self, *, scope: str, owner_id: int, name: str) -> bool:
        """Forget the reference; False if there was none. Its blob goes with the next
        sweep once nothing else refers to it (``collect_garbage``)."""
        ...

    async def resolve_references(
        self, *, guild_id: int, user_id: int, names: Sequence[str]
    ) -> Mapping[str, ReferenceImage]:
        """Each name (lower-cased) the member or the server has: the member's own first.

        Names neither has are missing from the answer; ``InvalidValue`` for a name
        outside the rule.
        """
        ...

    # usage

    async def record_usage(
        self, *, guild_id: int | None, user_id: int, images: int, tokens: int, cost: float = 0.0
    ) -> None:
        """Add one job, its images, tokens and cost (dollars) to the user's total for today
        (UTC).

        ``InvalidValue`` for negative or non-integer counts, or a cost that is not a
        finite number of 0 or more.
        """
        ...

    async def spend(self, *, guild_id: int, since: float) -> float:
        """The guild's recorded cost (dollars) over whole UTC days from the day of ``since``."""
        ...

    async def usage_summary(self, guild_id: int, since: float) -> Sequence[UsageRow]:
        """Per-user totals over whole UTC days from the day of ``since``.

        Most images first, then most tokens, then by user id.
        """
        ...

    # delivered sizes

    async def record_size_check(
        self,
        *,
        gateway: str,
        model: str,
        dialect: str,
        asked: str,
        delivered: str,
        size_honoured: bool | None,
        ratio_honoured: bool | None,
    ) -> None:
        """Keep this as the latest observation for its gateway, model and dialect (now).

        ``InvalidValue`` if a verdict is not True, False or None.
        """
        ...

    async def size_checks(self, gateway: str, model: str | None = None) -> list[SizeObservation]:
        """The gateway's observations (one model's, if given), newest first."""
        ...

    # the bot's own bookkeeping (e.g. the hash of the last command sync)

    async def get_meta(self, key: str) -> str | None:
        """The value last stored under ``key``, or None."""
        ...

    async def set_meta(self, key: str, value: str | None) -> None:
        """Store ``value`` under ``key`` (None removes it).

        ``InvalidValue`` for an empty or over-long key or value (``bot.storage.validation``'s
        ``MAX_META_KEY_CHARS``, ``MAX_META_VALUE_CHARS``).
        """
        ...
