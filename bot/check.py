"""``python -m bot check``: one line per item an operator can get wrong, each with its fix.

Items: the settings (all problems at once), the Discord token (``GET /users/@me``),
the Message Content intent (``GET /applications/@me`` flags), the database (opens,
schema version, writable) and the gateway (reachable, key accepted, the model listed);
``--generate`` adds one small paid test image. Discord is asked over plain REST with
httpx: the check needs two GETs, not a login, and the core stays free of discord.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

import httpx

from bot.config import (
    DEFAULT_DATABASE_URL,
    REQUIRED_FOR_BOT,
    ImageSettings,
    env_file_note,
    header_safe,
    load_bot_settings,
    load_image_settings,
)
from bot.errors import ConfigError, GatewayAuthError, ImagineError, PaymentRequired, advice_for
from bot.secrets import scrub

DISCORD_API = "https://discord.com/api/v10"
DISCORD_TIMEOUT = 15.0
# Application flags: the Message Content intent, switched on (verified bots: _LIMITED too).
GATEWAY_MESSAGE_CONTENT = 1 << 18
GATEWAY_MESSAGE_CONTENT_LIMITED = 1 << 19
TEST_PROMPT = "a small red circle on a white background"

ADVICE: dict[type[ImagineError], str] = {
    GatewayAuthError: "Check IMAGE_API_KEY.",
    PaymentRequired: "Top up the gateway account.",
}


@dataclass(frozen=True)
class Line:
    """One checked item: ``ok   token: imagine-bot (id 123)`` or ``FAIL ...`` with the fix."""

    passed: bool
    item: str
    text: str

    def __str__(self) -> str:
        return f"{'ok' if self.passed else 'FAIL':<4} {self.item}: {self.text}"


def _ok(item: str, text: str) -> Line:
    return Line(True, item, text)


def _fail(item: str, text: str) -> Line:
    return Line(False, item, text)


def check_config(env: Mapping[str, str], env_file: str) -> Line:
    """Every missing or invalid setting in one line (the bot stops at the first invalid one)."""
    problems = config_problems(env)
    if problems:
        return _fail("config", f"{'; '.join(problems)}; {env_file_note(env_file)}.")
    return _ok("config", f"all settings valid ({env_file_note(env_file)})")


def config_problems(env: Mapping[str, str]) -> list[str]:
    """Each problem ``load_bot_settings`` finds, found again with the named ones cleared."""
    trial = dict(env)
    problems: list[str] = []
    for _ in range(32):  # more than there are settings: each pass clears at least one
        try:
            load_bot_settings(trial)
            return problems
        except ConfigError as exc:
            sentence = str(exc)
            problems.append(sentence)
            names = [w for w in sentence.replace(",", " ").split() if w.isupper() and "_" in w]
            if not names:
                return problems
            for name in names:
                # A missing or invalid required one is filled with a stand-in (clearing it
                # would name it again as missing); another invalid one falls back to its default.
                required = name in REQUIRED_FOR_BOT or trial.get(name, "").strip() == ""
                trial[name] = "x" * 32 if required else ""
    return problems


def _reason(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """Why a connection failed, in a few words, without ``secrets`` (an error may quote them)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return "the host name does not resolve (DNS lookup failed)"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, (TimeoutError, httpx.TimeoutException)):
            return "timed out"
        seen = seen.__cause__ or seen.__context__
    return scrub(str(exc), secrets)[:120] or type(exc).__name__


async def _discord_get(http: httpx.AsyncClient, api: str, path: str, token: str) -> httpx.Response:
    return await http.get(f"{api}{path}", headers={"Authorization": f"Bot {token}"})


async def check_discord(env: Mapping[str, str]) -> list[Line]:
    """The token (who the bot is) and the Message Content intent."""
    token = (env.get("DISCORD_TOKEN") or "").strip()
    if not token:
        return [
            _fail("token", "DISCORD_TOKEN is not set; copy it from the Developer Portal (Bot)."),
            _fail("intents", "not checked without DISCORD_TOKEN."),
        ]
    try:
        header_safe("DISCORD_TOKEN", token)
    except ConfigError as exc:
        return [_fail("token", f"{exc}."), _fail("intents", "not checked without DISCORD_TOKEN.")]
    api = (env.get("DISCORD_API_BASE") or DISCORD_API).strip().rstrip("/")
    host = urlsplit(api).netloc or api
    secrets = (token, (env.get("IMAGE_API_KEY") or "").strip())
    async with httpx.AsyncClient(timeout=DISCORD_TIMEOUT) as http:
        try:
            me = await _discord_get(http, api, "/users/@me", token)
            app = await _discord_get(http, api, "/applications/@me", token) if me.is_success else me
        except httpx.HTTPError as exc:
            text = (
                f"cannot reach Discord at {host}: {_reason(exc, secrets)}. "
                "Check the network (or DISCORD_API_BASE)."
            )
            return [_fail("token", text), _fail("intents", "not checked: Discord unreachable.")]
    if me.status_code == 401:
        return [
            _fail(
                "token",
                "Discord rejected DISCORD_TOKEN (401 Unauthorized). Reset the token in the "
                "Developer Portal (Bot → Reset Token) and put the new one in .env.",
            ),
            _fail("intents", "not checked: the token was rejected."),
        ]
    if not me.is_success:
        text = f"Discord answered HTTP {me.status_code} to GET /users/@me. Try again later."
        return [_fail("token", text), _fail("intents", "not checked.")]
    user = me.json()
    name = user.get("username", "?")
    if user.get("discriminator") not in (None, "", "0"):
        name = f"{name}#{user['discriminator']}"
    lines = [_ok("token", f"{name} (id {user.get('id')})")]
    lines.append(_intents(env, app))
    return lines


def _intents(env: Mapping[str, str], app: httpx.Response) -> Line:
    wanted = (env.get("MESSAGE_CONTENT_INTENT") or "true").strip().lower()
    if wanted in {"0", "false", "no", "off"}:
        return _ok(
            "intents",
            "Message Content not asked for (MESSAGE_CONTENT_INTENT=false): "
            "only replies that @mention the bot edit images",
        )
    if not app.is_success:
        return _fail(
            "intents", f"Discord answered HTTP {app.status_code} to GET /applications/@me."
        )
    flags = int(app.json().get("flags") or 0)
    if flags & (GATEWAY_MESSAGE_CONTENT | GATEWAY_MESSAGE_CONTENT_LIMITED):
        return _ok("intents", "Message Content enabled")
    return _fail(
        "intents",
        "the Message Content intent is off. Switch it on in the Developer Portal "
        "(Bot → Privileged Gateway Intents), or set MESSAGE_CONTENT_INTENT=false.",
    )


async def check_database(env: Mapping[str, str]) -> Line:
    """The database opens (migrating it, as the bot would), its schema, and that it takes writes."""
    from bot.storage import open_store
    from bot.storage.sqlite.store import sqlite_path

    url = (env.get("DATABASE_URL") or "").strip() or DEFAULT_DATABASE_URL
    if url.partition(":")[0].split("+")[0].lower() in ("postgresql", "postgres"):
        return await _check_postgres(url)
    try:
        path = sqlite_path(url)
        store = await open_store(url)
        await store.close()
        version = await asyncio.to_thread(_probe_write, path)
    except ConfigError as exc:
        return _fail("database", f"{exc}.")
    except (OSError, sqlite3.Error) as exc:
        cause = getattr(exc, "strerror", None) or str(exc)
        shown = url.removeprefix("sqlite:///")
        return _fail(
            "database",
            f"cannot open or write {shown}: {cause}. Set DATABASE_URL to a file the bot's "
            "user can write (its folder too).",
        )
    return _ok("database", f"{url.removeprefix('sqlite:///')} (schema v{version}, writable)")


async def _check_postgres(url: str) -> Line:
    from bot.storage import open_store
    from bot.storage.postgres import PostgresStore
    from bot.storage.postgres.url import describe

    try:
        store = await open_store(url)
        try:
            assert isinstance(store, PostgresStore)
            version = await store.writable_schema_version()
        finally:
            await store.close()
    except ConfigError as exc:
        return _fail("database", f"{exc}.")
    return _ok("database", f"PostgreSQL {describe(url)} (schema v{version}, writable)")


def _probe_write(path: str) -> int:
    """The schema version; takes the write lock and lets go, so a read-only file fails here."""
    db = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        (version,) = db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        db.execute("BEGIN IMMEDIATE")
        db.execute("CREATE TABLE IF NOT EXISTS _check_probe (x)")  # read-only shows only on a write
        db.execute("ROLLBACK")
        return int(version)
    finally:
        db.close()


async def check_gateway(image: ImageSettings) -> Line:
    """The model list: proves the gateway answers, takes the key and offers the model."""
    from bot.gateway.addresses import host_of
    from bot.gateway.client import GatewayClient
    from bot.transport import http_client
    from bot.workers import CpuPool

    try:
        config = image.gateway()
    except ConfigError as exc:
        return _fail("gateway", f"not checked: {exc}.")
    host = host_of(config.base_url)
    try:
        async with http_client(timeout=image.timeout) as http, CpuPool(inline=True) as cpu:
            models = await GatewayClient.from_settings(http, cpu, image).list_models(config)
    except ImagineError as exc:
        return _fail("gateway", str(advice_for(exc, ADVICE)))
    if image.model not in models:
        shown = ", ".join(models[:5]) + (", ..." if len(models) > 5 else "")
        return _fail(
            "gateway",
            f"{host} does not list the model {image.model} among its {len(models)} "
            f"({shown or 'none'}). Set IMAGE_MODEL to one it lists.",
        )
    return _ok("gateway", f"{host} accepted the key and lists {image.model}")


async def check_generate(image: ImageSettings) -> Line:
    """One small paid image through the bot's own job path, and the size it came in."""
    from bot.gateway.sizes import size_class
    from bot.jobs import JobSpec
    from bot.oneshot import run_one

    spec = JobSpec(
        kind="imagine",
        guild_id=None,
        channel_id=0,
        user_id=0,
        prompt=TEST_PROMPT,
        upload_limit=None,
    )
    try:
        outcome = await run_one(image, spec)
    except ImagineError as exc:
        return _fail("generate", str(advice_for(exc, ADVICE)))
    if not outcome.result.images:
        return _fail(
            "generate",
            f"the gateway answered without an image with dialect {image.dialect}. "
            "Try another IMAGE_API_DIALECT.",
        )
    first = outcome.result.images[0]
    size = size_class(first.width, first.height) or "under 0.5K"
    return _ok(
        "generate",
        f"{outcome.model} returned a {first.width}×{first.height} {first.mime} ({size}) "
        f"with dialect {image.dialect}",
    )


async def run_check(*, env_file: str, generate: bool = False) -> int:
    """Print each item's line; 0 only if every one passed."""
    env = dict(os.environ)
    lines = [check_config(env, env_file)]
    lines.extend(await check_discord(env))
    lines.append(await check_database(env))
    try:
        image = load_image_settings(env)
    except ConfigError:  # already on the config line; check the gateway with the defaults
        image = replace(
            load_image_settings({}),
            base_url=env.get("IMAGE_API_BASE_URL"),
            api_key=env.get("IMAGE_API_KEY"),
        )
    gateway = await check_gateway(image)
    lines.append(gateway)
    if generate:
        # A paid image with the defaults standing in for broken settings proves nothing.
        if not lines[0].passed:
            lines.append(_fail("generate", "not tried: fix the config line first."))
        elif not gateway.passed:
            lines.append(_fail("generate", "not tried: the gateway check failed."))
        else:
            lines.append(await check_generate(image))
    for line in lines:
        print(line, flush=True)
    failed = [line.item for line in lines if not line.passed]
    if failed:
        print(f"check: {len(failed)} of {len(lines)} failed ({', '.join(failed)})", file=sys.stderr)
        return 1
    return 0
