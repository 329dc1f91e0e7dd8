"""A loopback fake Discord (REST /api/v10, websocket gateway, CDN) for the real discord.py client.

The fake is strict where Discord is strict: a malformed or repeated interaction callback, an
empty or oversize message, a reply to an unknown message or a click on a button that does not
exist is rejected the way Discord rejects it, so a bot that passes here does not merely pass
against something that accepts anything.

Why one long module: ``FakeDiscord`` is one protocol surface over one state. The REST
routes, the websocket gateway and the user actions (``slash``, ``click``, ``submit_modal``)
all read and write the same messages, interactions, sessions and faults, in the order
Discord would; split into mixins, each part would reach into attributes defined in
another. What stands apart lives beside it: the records and limits
(``discord_records``), Discord's validation rules (``discord_rules``), the discord.py
wiring (``discord_client``) and the payload builders (``discord_payloads``).

    async with FakeDiscord.running() as fake, redirect_discord(fake):
        bot = MyBot(...)
        async with running_bot(bot, fake):
            it = await fake.slash("imagine", {"prompt": "a cat", "image": ("cat.png", png)})
            state = await fake.interaction_result(it)
            assert state.original.files[0][1].startswith(b"\\x89PNG")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import mimetypes
import re
import secrets
import socket
import time
from collections.abc import (
    AsyncIterator,
    Callable,
    Mapping,
    Sequence,
)
from typing import Any
from urllib.parse import quote

import discord
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

from tests.fakes import discord_payloads as p
from tests.fakes.discord_client import (
    fast_bot_options,
    redirect_discord,
    running_bot,
    until_ready,
)
from tests.fakes.discord_records import (
    ALLOWED_CALLBACKS,
    ALREADY_ACKNOWLEDGED,
    API_PREFIX,
    CALLBACK_TYPES,
    CANNOT_EDIT_OTHERS,
    CLIENT_MAX_SIZE,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    GUILDS_PER_SHARD,
    INTENT_MESSAGE_CONTENT,
    INVALID_SHARD,
    INVALID_WEBHOOK_TOKEN,
    MODAL_FILL_SECONDS,
    PRIVILEGED_INTENTS,
    SHARDING_REQUIRED,
    UNKNOWN_CHANNEL,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    DiscordError,
    Fault,
    Handler,
    IdentifyRecord,
    InteractionState,
    Payload,
    RecordedRequest,
    Session,
    StoredMessage,
    UploadedFile,
    form_error,
    json_response,
    matches,
    named,
    shard_of,
    truthy,
    walk_components,
)
from tests.fakes.discord_rules import (
    validate_choices,
    validate_command,
    validate_message,
    validate_modal,
)

# How long the waits below give the bot by default: long enough for a 2-core machine that
# runs the whole suite on 4 workers (5 s ran out there); a wait that holds returns at once.
WAIT = 30.0


class FakeDiscord:
    """Serves Discord's REST API, gateway and CDN on 127.0.0.1 for one bot application.

    Sharded as Discord is: each IDENTIFY's ``shard: [id, num_shards]`` opens one session,
    which is sent only its own servers' events (``shard_of``: events without a server go
    to shard 0), READY and GUILD_CREATE included. Several bot processes may hold sessions
    at once; REST answers any of them (an interaction token works from every process).

    Sharding options: ``shards`` is what ``GET /gateway/bot`` recommends (default: one
    per ``guilds_per_shard`` servers); a session that would hold more than
    ``guilds_per_shard`` servers is closed with 4011, a bad shard with 4010.
    ``max_concurrency`` is ``session_start_limit.max_concurrency``: one IDENTIFY per
    bucket ``shard_id % max_concurrency`` per ``identify_interval`` seconds, across every
    session; one that comes sooner is still served, and noted in ``violations``.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        guilds: Sequence[Payload] | None = None,
        bot_name: str = "Imagine",
        allowed_intents: int = PRIVILEGED_INTENTS,
        echo_bot_messages: bool = True,
        shards: int | None = None,
        guilds_per_shard: int = GUILDS_PER_SHARD,
        max_concurrency: int = 1,
        identify_interval: float = 5.0,
        session_start_total: int = 1000,
    ) -> None:
        self.token = token
        # What the websocket accepts; set it apart from ``token`` for a token that logs in
        # over REST but is refused at IDENTIFY (close 4004), as a just-reset one can be.
        self.gateway_token = token
        self.bot_user = p.user(bot_name, bot=True)
        self.application_id = p.snowflake()
        self.owner = p.user("owner")
        self.guilds: list[Payload] = (
            list(guilds) if guilds is not None else [p.guild(owner_id=self.owner["id"])]
        )
        self.allowed_intents = allowed_intents
        self.echo_bot_messages = echo_bot_messages
        self.requests: list[RecordedRequest] = []
        self.gateway_frames: list[Payload] = []  # every frame the client sent, in order
        self.identifies: list[Payload] = []
        self.shards = shards
        self.guilds_per_shard = guilds_per_shard
        self.max_concurrency = max_concurrency
        self.identify_interval = identify_interval
        self.session_start_total = session_start_total
        self.identify_log: list[IdentifyRecord] = []  # every accepted IDENTIFY, in order
        # Rules the bot broke that Discord would not refuse outright (IDENTIFY pacing).
        self.violations: list[str] = []
        # The live sessions by IDENTIFY's [shard_id, num_shards]; a new IDENTIFY of the
        # same shard replaces its session.
        self.sessions: dict[tuple[int, int], Session] = {}
        self.resume_count = 0
        self.global_commands: list[Payload] = []
        self.guild_commands: dict[str, list[Payload]] = {}
        self.messages: dict[str, StoredMessage] = {}
        self.interactions: dict[str, InteractionState] = {}
        self.faults: list[Fault] = []
        self._hanging: list[Fault] = []
        # (author id, nonce) -> message id: Discord's enforce_nonce, a repeat returns the first.
        self._nonces: dict[tuple[str, str], str] = {}
        # Direct messages: DM channel id -> the user it is with; users who closed their DMs
        # to the bot (Discord answers a post there 403, 50007).
        self.dm_channels: dict[str, str] = {}
        self.dms_closed: set[str] = set()
        self.users: dict[str, Payload] = {}  # every user ``member`` made: who a DM can reach
        self._cdn: dict[str, tuple[bytes, str | None]] = {}
        self._command_ids: dict[tuple[str | None, int, str], str] = {}
        self._claimed: set[int] = set()
        self._background: set[asyncio.Future[Any]] = set()
        self._seq = 0
        self._sockets: set[web.WebSocketResponse] = set()
        self._cond = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base = ""
        for g in self.guilds:
            self._add_bot_member(g)
        self._routes = self._build_routes()

    # lifecycle ----------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def running(cls, **kwargs: Any) -> AsyncIterator[FakeDiscord]:
        fake = cls(**kwargs)
        await fake.start()
        try:
            yield fake
        finally:
            await fake.close()

    async def start(self) -> None:
        app = web.Application(client_max_size=CLIENT_MAX_SIZE)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{tail:.*}", self._serve_cdn)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._api)
        self._runner = web.AppRunner(app, shutdown_timeout=1)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self._base = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def close(self) -> None:
        for fault in self._hanging:
            fault.release()
        if self._runner is not None:
            # Stop listening first: a client reconnecting while the sockets close must be
            # refused, not accepted by a server about to drop it without a word.
            for site in list(self._runner.sites):
                await site.stop()
        for ws in list(self._sockets):
            await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def api_base(self) -> str:
        return self._base + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return self._base.replace("http://", "ws://") + "/gateway"

    # convenient actors ---------------------------------------------------------------------------

    @property
    def guild(self) -> Payload:
        return self.guilds[0]

    @property
    def channel(self) -> Payload:
        return self.guild["channels"][0]

    def find_channel(self, channel_id: str) -> tuple[Payload, Payload]:
        for g in self.guilds:
            for c in g["channels"]:
                if c["id"] == str(channel_id):
                    return g, c
        raise DiscordError(404, UNKNOWN_CHANNEL, "Unknown Channel")

    async def member(
        self,
        permissions: discord.Permissions | int | None = None,
        *,
        name: str = "member",
        guild: Payload | None = None,
        owner: bool = False,
    ) -> Payload:
        """A member of `guild`; a role with `permissions` is created (and announced) if needed."""
        g = guild or self.guild
        roles_before = len(g["roles"])
        m = p.member(g, self.owner if owner else p.user(name), permissions=permissions)
        self.users[m["user"]["id"]] = m["user"]
        if self.receivers(g["id"]):
            for r in g["roles"][roles_before:]:
                await self.dispatch("GUILD_ROLE_CREATE", {"guild_id": g["id"], "role": r})
        return m

    def host_file(
        self,
        channel_id: str,
        attachment_id: str,
        filename: str,
        data: bytes,
        content_type: str | None,
    ) -> str:
        """Serve `data` from the CDN; returns its URL (payload builders call this)."""
        if not self._base:
            raise RuntimeError("start the fake before hosting files")
        path = f"/cdn/attachments/{channel_id}/{attachment_id}/{quote(filename)}"
        self._cdn[yarl.URL(self._base + path).path] = (data, content_type)
        return self._base + path

    def envelope(
        self, member: Payload, channel: Payload | None = None, guild: Payload | None = None
    ) -> Payload:
        """The keyword arguments every interaction builder in discord_payloads needs."""
        g = guild or self.guild
        c = channel or g["channels"][0]
        return {
            "application_id": self.application_id,
            "guild_payload": g,
            "channel": c,
            "member_payload": member,
        }

    # waiting --------------------------------------------------------------------------------------

    async def _changed(self) -> None:
        async with self._cond:
            self._cond.notify_all()

    async def wait_until(
        self,
        check: Callable[[], Any],
        *,
        timeout: float = WAIT,  # noqa: ASYNC109
        what: str = "condition",
    ) -> Any:
        """Wait (event driven) until `check()` is truthy; returns its value."""
        async with self._cond:
            try:
                async with asyncio.timeout(timeout):
                    return await self._cond.wait_for(check)
            except TimeoutError:
                recent = "\n  ".join(repr(r) for r in self.requests[-15:])
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; last requests:\n  {recent}"
                ) from None

    async def wait_for(
        self,
        match: str | re.Pattern[str] | Callable[[RecordedRequest], bool],
        *,
        status: int | None = None,
        timeout: float = WAIT,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """The earliest request matching `match` that no earlier wait_for returned."""

        def check() -> RecordedRequest | None:
            for r in self.requests:
                if (
                    r.seq not in self._claimed
                    and matches(match, r)
                    and (status is None or r.status == status)
                ):
                    return r
            return None

        found = await self.wait_until(check, timeout=timeout, what=f"request {match!r}")
        self._claimed.add(found.seq)
        return found

    def find(
        self, match: str | re.Pattern[str] | Callable[[RecordedRequest], bool]
    ) -> list[RecordedRequest]:
        return [r for r in self.requests if matches(match, r)]

    async def wait_for_interaction_reply(
        self,
        interaction: InteractionState | str,
        *,
        timeout: float = WAIT,  # noqa: ASYNC109
    ) -> RecordedRequest:
        """The accepted callback of `interaction`."""
        st = self._state(interaction)
        return await self.wait_until(
            lambda: st.callback, timeout=timeout, what=f"callback for interaction {st.id}"
        )

    async def interaction_result(
        self,
        interaction: InteractionState | str,
        until: Callable[[InteractionState], bool] | None = None,
        *,
        timeout: float = WAIT,  # noqa: ASYNC109
    ) -> InteractionState:
        """The interaction once `until(state)` holds (default: an answer, not "thinking")."""
        st = self._state(interaction)
        check = until or InteractionState.answered
        await self.wait_until(
            lambda: check(st), timeout=timeout, what=f"result of interaction {st.id}"
        )
        return st

    async def wait_for_gateway(self, op: int, *, after: int = 0, timeout: float = WAIT) -> Payload:  # noqa: ASYNC109
        """The first frame with opcode `op` at index >= `after` in `gateway_frames`."""

        def check() -> Payload | None:
            return next((f for f in self.gateway_frames[after:] if f.get("op") == op), None)

        return await self.wait_until(check, timeout=timeout, what=f"gateway op {op}")

    def _state(self, interaction: InteractionState | str) -> InteractionState:
        return (
            interaction
            if isinstance(interaction, InteractionState)
            else self.interactions[str(interaction)]
        )

    # fault injection ------------------------------------------------------------------------------

    def inject(
        self,
        pattern: str | re.Pattern[str],
        *,
        status: int,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        after_applying: bool = False,
        hang: bool = False,
    ) -> Fault:
        """The next `times` requests matching `pattern` get `status`/`body` and change nothing.

        ``after_applying``: they change what they would, then get `status`/`body`; ``hang``:
        they change what they would, then get no answer (until ``Fault.release``).
        """
        fault = Fault(
            pattern,
            status,
            body,
            dict(headers or {}),
            times,
            after_applying=after_applying or hang,
            hang=hang,
        )
        self.faults.append(fault)
        return fault

    def rate_limit(
        self,
        pattern: str | re.Pattern[str],
        *,
        retry_after: float = 0.05,
        times: int = 1,
        via: bool = True,
        is_global: bool = False,
    ) -> Fault:
        # discord.py retries a 429 only when it carries a Via header (a Cloudflare ban has none).
        headers = {
            "Retry-After": str(retry_after),
            "X-RateLimit-Scope": "global" if is_global else "user",
        }
        if via:
            headers["Via"] = "1.1 google"
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": is_global,
            "code": 0,
        }
        return self.inject(pattern, status=429, body=body, headers=headers, times=times)

    def server_error(
        self,
        pattern: str | re.Pattern[str],
        *,
        status: int = 500,
        times: int = 1,
        after_applying: bool = False,
    ) -> Fault:
        return self.inject(
            pattern,
            status=status,
            body={"message": "500: Internal Server Error", "code": 0},
            times=times,
            after_applying=after_applying,
        )

    def hang_after_applying(self, pattern: str | re.Pattern[str], *, times: int = 1) -> Fault:
        """The request takes effect and its answer never comes (a timeout, seen by the client)."""
        return self.inject(pattern, status=504, times=times, hang=True)

    def unknown_interaction(
        self, pattern: str | re.Pattern[str] = "POST /interactions/*", *, times: int = 1
    ) -> Fault:
        return self.inject(
            pattern,
            status=404,
            body={"message": "Unknown interaction", "code": UNKNOWN_INTERACTION},
            times=times,
        )

    def expire(self, interaction: InteractionState | str) -> None:
        """Past the deadline: the callback gets 10062 and the webhook token 50027 from now on."""
        self._state(interaction).expired = True

    async def drop_websocket(self, code: int = 4000, *, shard: int = 0) -> None:
        """Close shard ``shard``'s socket abnormally; events sent meanwhile replay on RESUME."""
        session = next((s for (i, _), s in self.sessions.items() if i == shard), None)
        if session is None or session.ws is None:
            raise RuntimeError("no gateway connection to drop")
        ws, session.ws = session.ws, None
        await ws.close(code=code)

    def _take_fault(self, request: RecordedRequest) -> Fault | None:
        for fault in self.faults:
            if fault.remaining > 0 and matches(fault.pattern, request):
                fault.hits += 1
                return fault
        return None

    # gateway --------------------------------------------------------------------------------------

    @property
    def _session(self) -> Session | None:
        """Shard 0's session: the only one of an unsharded bot."""
        return next((s for (i, _), s in self.sessions.items() if i == 0), None)

    def receivers(self, guild_id: int | str | None) -> list[Session]:
        """The sessions Discord sends this server's events to (shard 0's without a server)."""
        return [s for (i, n), s in self.sessions.items() if shard_of(guild_id, n) == i]

    @staticmethod
    def _event_guild(event: str, data: Payload) -> str | None:
        if event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
            return data.get("id")
        return data.get("guild_id")

    async def dispatch(self, event: str, data: Payload, *, timeout: float = WAIT) -> int:  # noqa: ASYNC109
        """Send a DISPATCH to its server's shard; returns its "s" (on the last session).

        Buffered for RESUME while a socket is down.
        """
        guild_id = self._event_guild(event, data)
        sessions = await self.wait_until(
            lambda: self.receivers(guild_id),
            timeout=timeout,
            what=f"a gateway session (IDENTIFY) of the shard of server {guild_id}",
        )
        seq = 0
        for session in sessions:
            seq = await self._send(session, event, data)
        return seq

    async def _send(self, session: Session, event: str, data: Payload) -> int:
        session.seq += 1
        frame = {"op": 0, "t": event, "s": session.seq, "d": data}
        session.log.append(frame)
        if session.ws is not None and not session.ws.closed:
            with contextlib.suppress(ConnectionResetError):
                await session.ws.send_str(json.dumps(frame))
        return session.seq

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        self._sockets.add(ws)
        try:
            await ws.send_str(
                json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                self.gateway_frames.append(frame)
                op, d = frame.get("op"), frame.get("d")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11, "d": None, "s": None, "t": None}))
                elif op == 2:
                    await self._identify(ws, d)
                elif op == 6:
                    await self._resume(ws, d)
                elif op == 8:
                    await self._send_member_chunk(d)
                await self._changed()
        finally:
            self._sockets.discard(ws)
            for session in self.sessions.values():
                if session.ws is ws:
                    session.ws = None
            await self._changed()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, d: Payload) -> None:
        if d.get("token") != self.gateway_token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        if d.get("intents", 0) & PRIVILEGED_INTENTS & ~self.allowed_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        shard = d.get("shard", [0, 1])
        if not (
            isinstance(shard, list)
            and len(shard) == 2
            and all(type(n) is int for n in shard)
            and 0 <= shard[0] < shard[1]
        ):
            await ws.close(code=INVALID_SHARD, message=b"Invalid shard.")
            return
        shard_id, num_shards = shard
        guilds = [g for g in self.guilds if shard_of(g["id"], num_shards) == shard_id]
        if len(guilds) > self.guilds_per_shard:
            await ws.close(code=SHARDING_REQUIRED, message=b"Sharding required.")
            return
        self._pace_identify(shard_id, num_shards)
        self.identifies.append(d)
        session = Session(id=secrets.token_hex(16), shard=(shard_id, num_shards))
        # Dispatches wait for the new session's READY + GUILD_CREATEs.
        self.sessions.pop((shard_id, num_shards), None)
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": g["id"], "unavailable": True} for g in guilds],
            "session_id": session.id,
            "resume_gateway_url": self.gateway_url,
            "session_type": "normal",
            "shard": [shard_id, num_shards],
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "geo_ordered_rtc_regions": [],
        }
        for event, data in [("READY", ready)] + [("GUILD_CREATE", g) for g in guilds]:
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": data}
            session.log.append(frame)
            await ws.send_str(json.dumps(frame))
        session.ws = ws
        self.sessions[(shard_id, num_shards)] = session

    def _pace_identify(self, shard_id: int, num_shards: int) -> None:
        """Record the IDENTIFY; one sooner than its bucket allows is a violation."""
        now = time.monotonic()
        bucket = shard_id % self.max_concurrency
        last = next((r for r in reversed(self.identify_log) if r.bucket == bucket), None)
        if last is not None and now - last.at < self.identify_interval:
            self.violations.append(
                f"IDENTIFY of shard {shard_id} {now - last.at:.3f} s after shard "
                f"{last.shard_id}'s, in bucket {bucket} of max_concurrency "
                f"{self.max_concurrency}: one per {self.identify_interval:g} s"
            )
        self.identify_log.append(IdentifyRecord(shard_id, num_shards, bucket, now))

    async def _resume(self, ws: web.WebSocketResponse, d: Payload) -> None:
        if d.get("token") != self.gateway_token:
            await ws.close(code=4004, message=b"Authentication failed.")
            return
        session = next((s for s in self.sessions.values() if s.id == d.get("session_id")), None)
        if session is None:
            await ws.send_str(json.dumps({"op": 9, "d": False, "s": None, "t": None}))
            return
        index = next(
            (i for i, f in enumerate(session.log) if f["s"] > (d.get("seq") or 0)), len(session.log)
        )
        while index < len(session.log):  # frames dispatched during the replay are picked up too
            await ws.send_str(json.dumps(session.log[index]))
            index += 1
        session.ws = ws
        self.resume_count += 1
        await self._send(session, "RESUMED", {})

    async def _send_member_chunk(self, d: Payload) -> None:
        g = next((g for g in self.guilds if g["id"] == str(d.get("guild_id"))), None)
        if g is not None:
            chunk = {
                "guild_id": g["id"],
                "members": g["members"],
                "chunk_index": 0,
                "chunk_count": 1,
                "nonce": d.get("nonce"),
            }
            await self.dispatch("GUILD_MEMBERS_CHUNK", chunk)

    def _add_bot_member(self, g: Payload) -> None:
        if any(m["user"]["id"] == self.bot_user["id"] for m in g["members"]):
            return
        bot_role = p.role(g["id"], self.bot_user["username"], p.BOT_PERMISSIONS, position=1)
        bot_role["managed"] = True
        bot_role["tags"] = {"bot_id": self.bot_user["id"]}
        g["roles"].append(bot_role)
        bot_member = p.member(g, self.bot_user, roles=[bot_role["id"]])
        bot_member.pop("permissions")
        g["members"].append(bot_member)

    # driving the bot ------------------------------------------------------------------------------

    async def join(self, g: Payload) -> None:
        """Someone invited the bot to server ``g`` (a ``discord_payloads.guild``)."""
        self._add_bot_member(g)
        self.guilds.append(g)
        # As Discord sends a join: without "unavailable", which marks a READY guild arriving.
        await self.dispatch("GUILD_CREATE", {k: v for k, v in g.items() if k != "unavailable"})

    def register_interaction(self, payload: Payload) -> InteractionState:
        """Make the REST side know an interaction (its id and token) without sending it."""
        st = InteractionState(payload)
        self.interactions[payload["id"]] = st
        if "message" in payload and payload["message"]["id"] not in self.messages:
            self.messages[payload["message"]["id"]] = StoredMessage(payload["message"], self._cdn)
        return st

    async def dispatch_interaction(self, payload: Payload) -> InteractionState:
        """Register and send an INTERACTION_CREATE built with discord_payloads."""
        st = self.register_interaction(payload)
        await self.dispatch("INTERACTION_CREATE", payload)
        return st

    async def dispatch_message(self, payload: Payload) -> StoredMessage:
        """Store and send a MESSAGE_CREATE.

        Without the message-content intent Discord blanks it unless it mentions the bot.
        """
        stored = StoredMessage(payload, self._cdn)
        self.messages[payload["id"]] = stored
        sent = payload
        intents = self.identifies[-1].get("intents", 0) if self.identifies else 0
        mentioned = any(u["id"] == self.bot_user["id"] for u in payload.get("mentions", []))
        if (
            not intents & INTENT_MESSAGE_CONTENT
            and not mentioned
            and payload["author"]["id"] != self.bot_user["id"]
        ):
            sent = {**payload, "content": "", "attachments": [], "embeds": [], "components": []}
        await self.dispatch("MESSAGE_CREATE", sent)
        return stored

    async def post_message(
        self,
        content: str = "",
        *,
        author: Payload | None = None,
        channel: Payload | None = None,
        images: Sequence[bytes | tuple[str, bytes]] = (),
        reply_to: StoredMessage | Payload | None = None,
        mention_bot: bool = False,
    ) -> StoredMessage:
        """A user posts (optionally with images, as a reply, mentioning the bot)."""
        author = author or await self.member()
        g, c = self.find_channel(channel["id"]) if channel else (self.guild, self.channel)
        attachments = [
            p.attachment(self, data, name, channel_id=c["id"]) for name, data in map(named, images)
        ]
        if mention_bot:
            content = f"<@{self.bot_user['id']}> {content}".strip()
        target = reply_to.payload if isinstance(reply_to, StoredMessage) else reply_to
        mentions = [self.bot_user] if mention_bot else []
        msg = p.message(
            g, c, author, content, attachments=attachments, reply_to=target, mentions=mentions
        )
        return await self.dispatch_message(msg)

    def command(self, name: str, type: int = 1, *, guild_id: str | None = None) -> Payload:
        """A synced command (guild scope first, then global); LookupError if never synced."""
        scopes = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [
            self.global_commands
        ]
        for scope in scopes:
            for cmd in scope:
                if cmd["name"] == name and cmd.get("type", 1) == type:
                    return cmd
        raise LookupError(f"command {name!r} (type {type}) was not synced")

    async def slash(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        member: Payload | None = None,
        channel: Payload | None = None,
        locale: str = "en-US",
    ) -> InteractionState:
        """Invoke a synced slash command.

        `name` may be "settings model"; attachment values are bytes or (filename, bytes).
        """
        g, c = self.find_channel(channel["id"]) if channel else (self.guild, self.channel)
        member = member or await self.member()
        root, *path = name.split()
        cmd = self.command(root, 1, guild_id=g["id"])
        built, attachments = self._build_options(cmd, path, dict(options or {}), c["id"])
        payload = p.slash_command(
            root,
            built,
            attachments=attachments,
            command_id=cmd["id"],
            locale=locale,
            **self.envelope(member, c, g),
        )
        return await self.dispatch_interaction(payload)

    async def autocomplete(
        self, name: str, options: Mapping[str, Any], focused: str, *, member: Payload | None = None
    ) -> InteractionState:
        """An autocomplete request for option `focused` of a synced command."""
        member = member or await self.member()
        root, *path = name.split()
        cmd = self.command(root, 1, guild_id=self.guild["id"])
        schema = self._leaf_schema(cmd, path)
        built = []
        for opt in schema:
            if opt["name"] in options:
                entry = p.option(opt["name"], options[opt["name"]], opt["type"])
                if opt["name"] == focused:
                    entry["focused"] = True
                built.append(entry)
        for part in reversed(path):
            built = [p.subcommand(part, built, group=part != path[-1])]
        payload = p.autocomplete(root, built, command_id=cmd["id"], **self.envelope(member))
        return await self.dispatch_interaction(payload)

    async def context_menu(
        self, name: str, target: StoredMessage | Payload, *, member: Payload | None = None
    ) -> InteractionState:
        """Invoke a synced message context-menu command on `target`."""
        member = member or await self.member()
        target_payload = target.payload if isinstance(target, StoredMessage) else target
        g, c = self.find_channel(target_payload["channel_id"])
        cmd = self.command(name, 3, guild_id=g["id"])
        payload = p.message_context_menu(
            name, target_payload, command_id=cmd["id"], **self.envelope(member, c, g)
        )
        return await self.dispatch_interaction(payload)

    async def click(
        self,
        message: StoredMessage | Payload | str,
        custom_id: str,
        *,
        member: Payload | None = None,
        locale: str = "en-US",
    ) -> InteractionState:
        """Press button `custom_id` on a stored message; ValueError if it has no such button.

        ``locale``: the presser's client language (``interaction.locale``).
        """
        stored = (
            message
            if isinstance(message, StoredMessage)
            else self.messages[message if isinstance(message, str) else message["id"]]
        )
        if custom_id not in stored.custom_ids():
            raise ValueError(
                f"message {stored.id} has no component {custom_id!r}; it has {stored.custom_ids()}"
            )
        g, c = self.find_channel(stored.payload["channel_id"])
        member = member or await self.member()
        seer = self.seen_only_by(stored)
        if seer is not None and seer != member["user"]["id"]:
            raise ValueError(f"message {stored.id} is ephemeral: only user {seer} sees it")
        payload = p.button_click(
            stored.payload, custom_id, locale=locale, **self.envelope(member, c, g)
        )
        return await self.dispatch_interaction(payload)

    def seen_only_by(self, message: StoredMessage) -> str | None:
        """The one user who sees an ephemeral message (its interaction's); None: everyone."""
        if not message.ephemeral:
            return None
        for st in self.interactions.values():
            if any(m.id == message.id for m in st.messages) and st.callback_type not in (6, 7):
                return str(st.payload["member"]["user"]["id"])
        return None

    async def select(
        self,
        message: StoredMessage | Payload | str,
        custom_id: str,
        values: Sequence[str],
        *,
        member: Payload | None = None,
        locale: str = "en-US",
    ) -> InteractionState:
        """Pick ``values`` in string select `custom_id` of a stored message, as a member does.

        ValueError for a select the message does not have, a value not among its options,
        or a number of values outside its min_values..max_values: Discord's client offers
        nothing else. ``locale``: the picker's client language (``interaction.locale``).
        """
        stored = (
            message
            if isinstance(message, StoredMessage)
            else self.messages[message if isinstance(message, str) else message["id"]]
        )
        menu = next(
            (c for c in walk_components(stored.components) if c.get("custom_id") == custom_id),
            None,
        )
        if menu is None or menu.get("type") != 3:
            raise ValueError(
                f"message {stored.id} has no select {custom_id!r}; it has {stored.custom_ids()}"
            )
        offered = [o["value"] for o in menu.get("options", [])]
        low, high = menu.get("min_values", 1), menu.get("max_values", 1)
        if not set(values) <= set(offered) or not low <= len(values) <= high:
            raise ValueError(
                f"select {custom_id!r} takes {low}..{high} of {offered}; got {list(values)}"
            )
        g, c = self.find_channel(stored.payload["channel_id"])
        member = member or await self.member()
        payload = p.select_choice(
            stored.payload, custom_id, values, locale=locale, **self.envelope(member, c, g)
        )
        return await self.dispatch_interaction(payload)

    async def submit_modal(
        self,
        opened_by: InteractionState,
        values: Mapping[str, str],
        *,
        member: Payload | None = None,
        locale: str | None = None,
    ) -> InteractionState:
        """Submit the modal opened on `opened_by`, echoing custom_id and layout as Discord does.

        ``locale``: the submitter's client language (``interaction.locale``); by default the
        one of the interaction that opened the modal (the same member, the same client).
        """
        modal = opened_by.modal
        if modal is None:
            raise ValueError(f"interaction {opened_by.id} did not open a modal")
        # discord.py registers a modal only once the callback's HTTP response has reached
        # it (InteractionResponse.send_modal stores the view after the request returns); a
        # submit that overtakes that response matches nothing and goes unanswered. No
        # person fills in a form that fast, and nothing the fake can observe says the client
        # has read the response, so give it a human's head start instead of an event.
        await asyncio.sleep(MODAL_FILL_SECONDS)
        inputs = {
            c["custom_id"]: c for c in walk_components(modal["components"]) if c.get("type") == 4
        }
        unknown = set(values) - set(inputs)
        missing = [
            cid for cid, c in inputs.items() if c.get("required", True) and not values.get(cid)
        ]
        if unknown or missing:
            raise ValueError(
                f"modal inputs are {sorted(inputs)}; unknown {sorted(unknown)}, "
                f"required but empty {missing}"
            )

        def echo(component: Payload) -> Payload:
            if component["type"] == 1:
                return {"type": 1, "components": [echo(c) for c in component["components"]]}
            if component["type"] == 18:
                return {"type": 18, "component": echo(component["component"])}
            if component["type"] == 4:
                return {
                    "type": 4,
                    "custom_id": component["custom_id"],
                    "value": values.get(component["custom_id"], ""),
                }
            return {k: v for k, v in component.items() if k in ("type", "id", "custom_id")}

        g, c = self.find_channel(opened_by.payload["channel_id"])
        env = self.envelope(member or opened_by.payload["member"], c, g)
        payload = p.modal_submit(
            modal["custom_id"],
            components=[echo(c) for c in modal["components"]],
            message_payload=opened_by.payload.get("message"),
            locale=locale or opened_by.payload.get("locale", "en-US"),
            **env,
        )
        return await self.dispatch_interaction(payload)

    def _leaf_schema(self, cmd: Payload, path: Sequence[str]) -> list[Payload]:
        schema = cmd.get("options", [])
        for part in path:
            sub = next((o for o in schema if o["name"] == part and o["type"] in (1, 2)), None)
            if sub is None:
                raise LookupError(f"/{cmd['name']} has no subcommand {part!r}")
            schema = sub.get("options", [])
        return schema

    def _build_options(
        self, cmd: Payload, path: Sequence[str], values: dict[str, Any], channel_id: str
    ) -> tuple[list[Payload], list[Payload]]:
        schema = self._leaf_schema(cmd, path)
        if any(o["type"] in (1, 2) for o in schema):
            raise LookupError(f"/{cmd['name']} needs a subcommand")
        by_name = {o["name"]: o for o in schema}
        unknown = set(values) - set(by_name)
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if unknown or missing:
            raise ValueError(
                f"/{' '.join([cmd['name'], *path])}: unknown options {sorted(unknown)}, "
                f"missing {missing}"
            )
        built: list[Payload] = []
        attachments: list[Payload] = []
        for opt_name, value in values.items():
            opt = by_name[opt_name]
            if opt["type"] == p.ATTACHMENT:
                if not isinstance(value, dict):
                    filename, data = named(value)
                    value = p.attachment(self, data, filename, channel_id=channel_id)
                attachments.append(value)
                value = value["id"]
            elif opt.get("choices") and value not in [c["value"] for c in opt["choices"]]:
                raise ValueError(f"{value!r} is not a choice of option {opt_name!r}")
            built.append(p.option(opt_name, value, opt["type"]))
        for part in reversed(path):
            built = [p.subcommand(part, built, group=part != path[-1])]
        return built, attachments

    # HTTP plumbing --------------------------------------------------------------------------------

    async def _record(self, request: web.Request, path: str) -> RecordedRequest:
        self._seq += 1
        rec = RecordedRequest(
            self._seq, request.method, path, dict(request.query), dict(request.headers)
        )
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):  # discord.py never nests multiparts
                    continue
                if part.filename is None and part.name == "payload_json":
                    rec.json = json.loads(await part.text())
                elif part.filename is not None:
                    data = bytes(await part.read(decode=False))
                    rec.files.append(
                        UploadedFile(
                            part.name or "", part.filename, part.headers.get("Content-Type"), data
                        )
                    )
        elif request.can_read_body:
            raw = await request.read()
            try:
                rec.json = json.loads(raw)
            except ValueError:
                rec.body = raw
        return rec

    async def _finish(
        self, rec: RecordedRequest, response: web.StreamResponse, body: Any
    ) -> web.StreamResponse:
        rec.status, rec.response = response.status, body
        self.requests.append(rec)
        await self._changed()
        return response

    async def _serve_cdn(self, request: web.Request) -> web.StreamResponse:
        rec = await self._record(request, request.path)
        entry = self._cdn.get(request.path)
        if entry is None:
            return await self._finish(rec, web.Response(status=404, text="Not Found"), None)
        data, content_type = entry
        return await self._finish(
            rec,
            web.Response(body=data, content_type=content_type or "application/octet-stream"),
            None,
        )

    async def _api(self, request: web.Request) -> web.StreamResponse:
        path = request.path[len(API_PREFIX) :]
        rec = await self._record(request, path)
        fault = self._take_fault(rec)
        if fault is not None and not fault.after_applying:
            return await self._finish(
                rec, json_response(fault.status, fault.body, fault.headers), fault.body
            )
        try:
            for method, pattern, needs_auth, handler in self._routes:
                m = pattern.fullmatch(path)
                if m and method == request.method:
                    if needs_auth and request.headers.get("Authorization") != f"Bot {self.token}":
                        raise DiscordError(401, 0, "401: Unauthorized")
                    status, body = await handler(rec, **m.groupdict())
                    break
            else:
                raise DiscordError(404, 0, "404: Not Found")
        except DiscordError as exc:
            status, body = exc.status, exc.body()
        if fault is not None:  # applied: now the answer the fault says, or none
            rec.applied = (status, body)
            if fault.hang:  # seen (status 0 until answered), applied, unanswered
                self._hanging.append(fault)
                self.requests.append(rec)
                await self._changed()
                await fault.released.wait()
                rec.status, rec.response = fault.status, fault.body
                return json_response(fault.status, fault.body, fault.headers)
            return await self._finish(
                rec, json_response(fault.status, fault.body, fault.headers), fault.body
            )
        response = web.Response(status=204) if status == 204 else json_response(status, body)
        return await self._finish(rec, response, body)

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], bool, Handler]]:
        app, sf = r"(?P<app>\d+)", r"\d+"
        hook = rf"/webhooks/{app}/(?P<token>[^/]+)"
        hook_msg = rf"{hook}/messages/(?P<mid>@original|{sf})"
        guild_cmds = rf"/applications/{app}/guilds/(?P<guild>{sf})/commands"
        chan = rf"/channels/(?P<cid>{sf})"
        chan_msg = rf"{chan}/messages/(?P<mid>{sf})"
        table: list[tuple[str, str, bool, Handler]] = [
            ("GET", r"/users/@me", True, self._get_me),
            ("DELETE", rf"/users/@me/guilds/(?P<guild>{sf})", True, self._leave_guild),
            ("POST", r"/users/@me/channels", True, self._open_dm),
            ("GET", r"/oauth2/applications/@me", True, self._get_application),
            ("GET", r"/applications/@me", True, self._get_application),
            ("GET", r"/gateway", False, self._get_gateway),
            ("GET", r"/gateway/bot", True, self._get_gateway),
            ("PUT", rf"/applications/{app}/commands", True, self._put_commands),
            ("GET", rf"/applications/{app}/commands", True, self._get_commands),
            ("PUT", guild_cmds, True, self._put_commands),
            ("GET", guild_cmds, True, self._get_commands),
            (
                "POST",
                rf"/interactions/(?P<iid>{sf})/(?P<token>[^/]+)/callback",
                False,
                self._callback,
            ),
            ("POST", hook, False, self._followup),
            ("GET", hook_msg, False, self._webhook_get),
            ("PATCH", hook_msg, False, self._webhook_edit),
            ("DELETE", hook_msg, False, self._webhook_delete),
            ("GET", chan, True, self._get_channel),
            ("POST", rf"{chan}/messages", True, self._channel_post),
            ("GET", chan_msg, True, self._channel_get),
            ("PATCH", chan_msg, True, self._channel_edit),
            ("DELETE", chan_msg, True, self._channel_delete),
            ("POST", rf"{chan}/typing", True, self._no_content),
            ("PUT", rf"{chan_msg}/reactions/[^/]+/@me", True, self._no_content),
        ]
        return [(m, re.compile(rx), auth, h) for m, rx, auth, h in table]

    # REST: identity and commands ------------------------------------------------------------------

    async def _get_me(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, self.bot_user

    async def _leave_guild(self, rec: RecordedRequest, guild: str) -> tuple[int, Any]:
        g = next((g for g in self.guilds if g["id"] == guild), None)
        if g is None:
            raise DiscordError(404, 10004, "Unknown Guild")
        self.guilds.remove(g)
        # Discord confirms a leave on the gateway too, after answering the request.
        task = asyncio.ensure_future(self.dispatch("GUILD_DELETE", {"id": guild}))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return 204, None

    async def _get_application(self, rec: RecordedRequest) -> tuple[int, Any]:
        return 200, {
            "id": self.application_id,
            "name": self.bot_user["username"],
            "description": "",
            "icon": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot_user,
            "owner": self.owner,
            "team": None,
            "verify_key": "0" * 64,
            # GATEWAY_MESSAGE_CONTENT: the Developer Portal's switch, as the intents say.
            "flags": (1 << 18) if self.allowed_intents & INTENT_MESSAGE_CONTENT else 0,
            "summary": "",
            "interactions_endpoint_url": None,
        }

    @property
    def recommended_shards(self) -> int:
        """What ``GET /gateway/bot`` answers as ``shards``."""
        if self.shards is not None:
            return self.shards
        return max(1, math.ceil(len(self.guilds) / self.guilds_per_shard))

    async def _get_gateway(self, rec: RecordedRequest) -> tuple[int, Any]:
        limit = {
            "total": self.session_start_total,
            "remaining": max(0, self.session_start_total - len(self.identify_log)),
            "reset_after": 0,
            "max_concurrency": self.max_concurrency,
        }
        return 200, {
            "url": self.gateway_url,
            "shards": self.recommended_shards,
            "session_start_limit": limit,
        }

    async def _no_content(self, rec: RecordedRequest, **_: str) -> tuple[int, Any]:
        return 204, None

    async def _get_commands(
        self, rec: RecordedRequest, app: str, guild: str | None = None
    ) -> tuple[int, Any]:
        if app != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        return 200, self.guild_commands.get(guild, []) if guild else self.global_commands

    async def _put_commands(
        self, rec: RecordedRequest, app: str, guild: str | None = None
    ) -> tuple[int, Any]:
        if app != self.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        if guild is not None and guild not in {g["id"] for g in self.guilds}:
            raise DiscordError(403, 50001, "Missing Access")
        if not isinstance(rec.json, list):
            raise form_error("_", "LIST_TYPE_CONVERT", "Must be an array.")
        seen: set[tuple[int, str]] = set()
        synced = []
        for i, cmd in enumerate(rec.json):
            validate_command(cmd, f"{i}")
            key = (cmd.get("type", 1), cmd["name"])
            if key in seen:
                raise form_error(
                    f"{i}.name",
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    "Application command names must be unique",
                )
            seen.add(key)
            cid = self._command_ids.setdefault((guild, *key), p.snowflake())
            out = {
                "id": cid,
                "application_id": self.application_id,
                "version": p.snowflake(),
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "nsfw": False,
                "integration_types": [0],
                "contexts": None,
                **cmd,
            }
            if (
                out["default_member_permissions"] is not None
            ):  # Discord answers bitfields as strings
                out["default_member_permissions"] = str(out["default_member_permissions"])
            if guild is not None:
                out["guild_id"] = guild
            synced.append(out)
        if guild is None:
            self.global_commands = synced
        else:
            self.guild_commands[guild] = synced
        return 200, synced

    # REST: interactions ---------------------------------------------------------------------------

    async def _callback(self, rec: RecordedRequest, iid: str, token: str) -> tuple[int, Any]:
        st = self.interactions.get(iid)
        if st is None or st.token != token or st.expired:
            raise DiscordError(404, UNKNOWN_INTERACTION, "Unknown interaction")
        if st.callback_type is not None:
            raise DiscordError(
                400, ALREADY_ACKNOWLEDGED, "Interaction has already been acknowledged."
            )
        body = rec.json
        if not isinstance(body, dict) or "type" not in body:
            raise form_error("type", "BASE_TYPE_REQUIRED", "This field is required")
        ctype, data = body["type"], body.get("data")
        if ctype not in CALLBACK_TYPES:
            raise form_error(
                "type", "BASE_TYPE_CHOICES", f"Value must be one of {sorted(CALLBACK_TYPES)}."
            )
        allowed = ALLOWED_CALLBACKS.get(st.type, set())
        if st.type == 5 and "message" not in st.payload:
            allowed = allowed - {6, 7}
        if ctype not in allowed:
            raise DiscordError(
                400,
                40043,
                f"Interaction callback type {ctype} is not valid for interaction type {st.type}",
            )
        if data is not None and not isinstance(data, dict):
            raise form_error(
                "data", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType"
            )
        limit = st.payload["attachment_size_limit"]
        channel_id = st.payload["channel_id"]
        if ctype == 4:
            if data is None:
                raise form_error("data", "BASE_TYPE_REQUIRED", "This field is required")
            st.original = self._create_message(channel_id, data, rec.files, limit, interaction=st)
        elif ctype == 5:
            flags = FLAG_LOADING | ((data or {}).get("flags", 0) & FLAG_EPHEMERAL)
            st.original = self._create_message(
                channel_id, {"flags": flags}, [], limit, interaction=st, allow_empty=True
            )
        elif ctype in (6, 7):
            st.original = self.messages[st.payload["message"]["id"]]
            if ctype == 7:
                self._edit_message(st.original, data or {}, rec.files, limit)
        elif ctype == 8:
            st.choices = validate_choices(data)
        elif ctype == 9:
            st.modal = validate_modal(data)
        st.callback_type, st.callback = ctype, rec
        if not truthy(rec.query.get("with_response")):
            return 204, None
        answer: Payload = {
            "interaction": {
                "id": st.id,
                "type": st.type,
                "response_message_id": st.original.id if st.original is not None else None,
                "response_message_loading": ctype == 5,
                "response_message_ephemeral": bool(st.original and st.original.ephemeral),
            }
        }
        if ctype in (4, 5, 7):
            assert st.original is not None
            answer["resource"] = {"type": ctype, "message": st.original.payload}
        return 200, answer

    def _webhook_state(self, app: str, token: str) -> InteractionState:
        if app != self.application_id:
            raise DiscordError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        st = next((s for s in self.interactions.values() if s.token == token), None)
        if st is None or st.expired:
            raise DiscordError(401, INVALID_WEBHOOK_TOKEN, "Invalid Webhook Token")
        if st.callback_type is None:
            raise DiscordError(404, UNKNOWN_WEBHOOK, "Unknown Webhook")
        return st

    def _webhook_message(self, st: InteractionState, mid: str) -> StoredMessage:
        if mid == "@original":
            if st.original is None or st.original_deleted:
                raise DiscordError(404, UNKNOWN_MESSAGE, "Unknown Message")
            return st.original
        for msg in st.messages:
            if msg.id == mid:
                return msg
        raise DiscordError(404, UNKNOWN_MESSAGE, "Unknown Message")

    async def _followup(self, rec: RecordedRequest, app: str, token: str) -> tuple[int, Any]:
        st = self._webhook_state(app, token)
        data = rec.json if isinstance(rec.json, dict) else {}
        limit = st.payload["attachment_size_limit"]
        if st.callback_type == 5 and st.original is not None and st.original.loading:
            # Discord: the first follow-up after a "thinking" defer replaces the loading message.
            self._edit_message(
                st.original,
                {**data, "flags": st.original.flags & FLAG_EPHEMERAL},
                rec.files,
                limit,
                creating=True,
            )
            msg = st.original
        else:
            msg = self._create_message(
                st.payload["channel_id"], data, rec.files, limit, interaction=st
            )
            st.followups.append(msg)
        return (200, msg.payload) if truthy(rec.query.get("wait")) else (204, None)

    async def _webhook_get(
        self, rec: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        return 200, self._webhook_message(self._webhook_state(app, token), mid).payload

    async def _webhook_edit(
        self, rec: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        st = self._webhook_state(app, token)
        msg = self._webhook_message(st, mid)
        self._edit_message(
            msg,
            rec.json if isinstance(rec.json, dict) else {},
            rec.files,
            st.payload["attachment_size_limit"],
        )
        if msg is st.original:
            st.original_edits += 1
        return 200, msg.payload

    async def _webhook_delete(
        self, rec: RecordedRequest, app: str, token: str, mid: str
    ) -> tuple[int, Any]:
        st = self._webhook_state(app, token)
        msg = self._webhook_message(st, mid)
        if msg is st.original:
            st.original_deleted = True
        else:
            st.followups.remove(msg)
        self.messages.pop(msg.id, None)
        return 204, None

    # REST: channels -------------------------------------------------------------------------------

    async def _get_channel(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        return 200, self.find_channel(cid)[1]

    def _channel_message(self, cid: str, mid: str) -> StoredMessage:
        self.find_channel(cid)
        msg = self.messages.get(mid)
        if msg is None or msg.payload["channel_id"] != cid:
            raise DiscordError(404, UNKNOWN_MESSAGE, "Unknown Message")
        return msg

    async def _open_dm(self, rec: RecordedRequest) -> tuple[int, Any]:
        """Discord's "Create DM": the one DM channel with a user, made on first use."""
        data = rec.json if isinstance(rec.json, dict) else {}
        user_id = str(data.get("recipient_id", ""))
        user = self.users.get(user_id)
        if user is None:
            raise form_error("recipient_id", "USER_UNKNOWN", "Unknown User")
        cid = next((c for c, u in self.dm_channels.items() if u == user_id), None) or p.snowflake()
        self.dm_channels[cid] = user_id
        return 200, {"id": cid, "type": 1, "last_message_id": None, "recipients": [user]}

    def direct_messages(self, member: Payload) -> list[StoredMessage]:
        """The messages the bot sent to ``member``'s DMs, oldest first."""
        user_id = member["user"]["id"]
        ids = {c for c, u in self.dm_channels.items() if u == user_id}
        return [m for m in self.messages.values() if m.payload["channel_id"] in ids]

    async def _dm_post(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        if self.dm_channels[cid] in self.dms_closed:
            raise DiscordError(403, 50007, "Cannot send messages to this user")
        data = rec.json if isinstance(rec.json, dict) else {}
        return 200, self._create_message(cid, data, rec.files, p.UPLOAD_LIMIT_BY_TIER[0]).payload

    async def _channel_post(self, rec: RecordedRequest, cid: str) -> tuple[int, Any]:
        if cid in self.dm_channels:
            return await self._dm_post(rec, cid)
        g, _ = self.find_channel(cid)
        data = rec.json if isinstance(rec.json, dict) else {}
        if data.get("flags", 0) & FLAG_EPHEMERAL:
            raise form_error(
                "flags",
                "MESSAGE_FLAGS_INVALID",
                "Ephemeral messages exist only as interaction responses",
            )
        nonce = data.get("nonce")
        key = (self.bot_user["id"], str(nonce))
        if nonce is not None and data.get("enforce_nonce") and key in self._nonces:
            # Discord: "checked for uniqueness in the past few minutes... that message will
            # be returned and no new message will be created".
            first = self.messages.get(self._nonces[key])
            if first is not None:
                return 200, first.payload
        msg = self._create_message(cid, data, rec.files, p.upload_limit(g))
        if nonce is not None:
            msg.payload["nonce"] = nonce
            if data.get("enforce_nonce"):
                self._nonces[key] = msg.id
        if self.echo_bot_messages and self.receivers(g["id"]):
            bot_member = next(m for m in g["members"] if m["user"]["id"] == self.bot_user["id"])
            echo = {
                **msg.payload,
                "guild_id": g["id"],
                "member": {k: v for k, v in bot_member.items() if k != "user"},
            }
            await self.dispatch("MESSAGE_CREATE", echo)
        return 200, msg.payload

    async def _channel_get(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        return 200, self._channel_message(cid, mid).payload

    async def _channel_edit(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        msg = self._channel_message(cid, mid)
        if msg.payload["author"]["id"] != self.bot_user["id"]:
            raise DiscordError(
                403, CANNOT_EDIT_OTHERS, "Cannot edit a message authored by another user"
            )
        g, _ = self.find_channel(cid)
        self._edit_message(
            msg, rec.json if isinstance(rec.json, dict) else {}, rec.files, p.upload_limit(g)
        )
        return 200, msg.payload

    async def _channel_delete(self, rec: RecordedRequest, cid: str, mid: str) -> tuple[int, Any]:
        self.messages.pop(self._channel_message(cid, mid).id)
        return 204, None

    # messages -------------------------------------------------------------------------------------

    def _create_message(
        self,
        channel_id: str,
        data: Payload,
        files: Sequence[UploadedFile],
        limit: int,
        *,
        interaction: InteractionState | None = None,
        allow_empty: bool = False,
    ) -> StoredMessage:
        validate_message(data, files, limit, creating=not allow_empty)
        payload: Payload = {
            "id": p.snowflake(),
            "channel_id": channel_id,
            "author": self.bot_user,
            "content": "",
            "timestamp": p.iso_now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "components": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }
        if interaction is not None:
            payload["webhook_id"] = payload["application_id"] = self.application_id
            if interaction.type == 2:  # CHAT_INPUT_COMMAND or CONTEXT_MENU_COMMAND message types
                payload["type"] = 20 if interaction.payload["data"].get("type", 1) == 1 else 23
        ref = data.get("message_reference")
        if ref is not None and interaction is None:
            target = self.messages.get(str(ref.get("message_id")))
            if target is None or target.payload["channel_id"] != str(
                ref.get("channel_id", channel_id)
            ):
                if ref.get("fail_if_not_exists", True):
                    raise form_error(
                        "message_reference", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message"
                    )
            else:
                payload["type"] = 19
                payload["message_reference"] = {
                    "type": 0,
                    "message_id": target.id,
                    "channel_id": channel_id,
                }
                payload["referenced_message"] = {
                    k: v for k, v in target.payload.items() if k != "referenced_message"
                }
        msg = StoredMessage(payload, self._cdn)
        self._apply(msg, data, files, keep_attachments=False)
        self.messages[msg.id] = msg
        return msg

    def _edit_message(
        self,
        msg: StoredMessage,
        data: Payload,
        files: Sequence[UploadedFile],
        limit: int,
        *,
        creating: bool = False,
    ) -> None:
        validate_message(data, files, limit, creating=creating)
        if not creating:
            msg.payload["edited_timestamp"] = p.iso_now()
        msg.payload["flags"] = msg.flags & ~FLAG_LOADING
        self._apply(msg, data, files, keep_attachments=True)

    def _apply(
        self,
        msg: StoredMessage,
        data: Payload,
        files: Sequence[UploadedFile],
        *,
        keep_attachments: bool,
    ) -> None:
        for key in ("content", "embeds", "components", "tts"):
            if key in data and data[key] is not None:
                msg.payload[key] = data[key]
        if "flags" in data and data["flags"] is not None:
            msg.payload["flags"] = (msg.flags & (FLAG_EPHEMERAL | FLAG_LOADING)) | data["flags"]
        meta = data.get("attachments")
        existing = {a["id"]: a for a in msg.attachments} if keep_attachments else {}
        if meta is None:
            kept = list(existing.values())
            described: dict[int, Payload] = {}
        else:
            kept = [existing[str(m["id"])] for m in meta if str(m.get("id")) in existing]
            described = {
                int(m["id"]): m
                for m in meta
                if str(m.get("id")).isdigit() and str(m["id"]) not in existing
            }
        new = []
        for index, f in enumerate(files):
            m = described.get(index, {})
            filename = m.get("filename") or f.filename
            content_type = mimetypes.guess_type(filename)[0] or f.content_type
            att = p.attachment(
                self,
                f.data,
                filename,
                channel_id=msg.payload["channel_id"],
                content_type=content_type,
            )
            att["description"] = m.get("description")
            new.append(att)
        msg.payload["attachments"] = kept + new


__all__ = [
    "INTENT_MESSAGE_CONTENT",
    "FakeDiscord",
    "Fault",
    "InteractionState",
    "RecordedRequest",
    "StoredMessage",
    "UploadedFile",
    "fast_bot_options",
    "matches",
    "redirect_discord",
    "running_bot",
    "until_ready",
]
