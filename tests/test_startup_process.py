"""``python -m bot`` failing to start, starting, and losing Discord, as an operator sees it.

Each known start-up failure ends in the one ``error:`` line the operator reads on stderr
and exit status 1; a start says who the bot is and how to invite it; a lost Discord is
one WARNING per attempt, and SIGINT during the retry wait stops the process.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import time
from pathlib import Path

import pytest

from bot.discord_bot.startup import INTENTS_REFUSED, TOKEN_REJECTED, invite_url
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway
from tests.processes import TOKEN, bot_environment, kill_group, start_bot

UNREACHABLE_FIX = "check the network, or DISCORD_API_BASE / DISCORD_GATEWAY_URL if you set them"


async def failed_start(env: dict[str, str], cwd: Path) -> tuple[int | None, list[str]]:
    """Run the bot to its end; its exit status and stderr's lines."""
    process = await start_bot(env, cwd)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, stderr.decode().strip().splitlines()


def assert_one_error(lines: list[str], expected: str) -> None:
    """The last line is the sentence; nothing before it is an error or a traceback."""
    assert lines[-1] == f"error: {expected}", "\n".join(lines[-20:])
    assert [line for line in lines if "error" in line.lower()] == [lines[-1]], lines
    assert not any("Traceback" in line for line in lines)
    assert not any("voice will NOT be supported" in line for line in lines)


def info_environment(fake: FakeDiscord, gw: FakeGateway, tmp_path: Path) -> dict[str, str]:
    return {**bot_environment(fake, gw, tmp_path), "LOG_LEVEL": "INFO"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_refused_message_content_intent_names_the_switch(tmp_path):
    async with FakeDiscord.running(token=TOKEN, allowed_intents=0) as fake, FakeGateway() as gw:
        status, lines = await failed_start(info_environment(fake, gw, tmp_path), tmp_path)
    assert status == 1
    assert_one_error(lines, INTENTS_REFUSED)
    assert INTENTS_REFUSED == (
        "Discord refused the Message Content intent: enable it in the Discord Developer "
        "Portal (Bot → Privileged Gateway Intents), or set MESSAGE_CONTENT_INTENT=false"
    )


async def test_message_content_intent_off_starts_where_it_is_refused(tmp_path):
    async with FakeDiscord.running(token=TOKEN, allowed_intents=0) as fake, FakeGateway() as gw:
        env = {**info_environment(fake, gw, tmp_path), "MESSAGE_CONTENT_INTENT": "false"}
        process = await start_bot(env, tmp_path)
        try:
            await fake.wait_until(lambda: bool(fake.identifies), timeout=30)
        finally:
            process.send_signal(signal.SIGINT)
            await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0


async def test_token_refused_by_rest_says_reset_it(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = {**info_environment(fake, gw, tmp_path), "DISCORD_TOKEN": "not-the-right-token"}
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert_one_error(lines, TOKEN_REJECTED)
    assert TOKEN_REJECTED == (
        "DISCORD_TOKEN was rejected by Discord: reset it in the Discord Developer Portal "
        "(Bot → Reset Token) and put the new one in .env"
    )
    assert fake.find("GET /users/@me")  # refused over REST, before any websocket


async def test_token_refused_by_the_gateway_4004_says_reset_it(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        fake.gateway_token = "another-token"
        status, lines = await failed_start(info_environment(fake, gw, tmp_path), tmp_path)
    assert status == 1
    assert_one_error(lines, TOKEN_REJECTED)
    assert fake.identifies == []  # the close came at IDENTIFY, after a REST login


async def test_closed_port_is_connection_refused(tmp_path):
    port = closed_port()
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = info_environment(fake, gw, tmp_path)
        env["DISCORD_API_BASE"] = f"http://127.0.0.1:{port}/api/v10"
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert_one_error(
        lines, f"cannot reach Discord at 127.0.0.1:{port}: connection refused; {UNREACHABLE_FIX}"
    )


async def test_unresolvable_host_is_dns(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = info_environment(fake, gw, tmp_path)
        env["DISCORD_API_BASE"] = "http://discord.invalid/api/v10"
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert_one_error(
        lines,
        "cannot reach Discord at discord.invalid:80: the host name does not resolve (DNS); "
        + UNREACHABLE_FIX,
    )


def _not_a_folder(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "plain-file").write_text("not a folder")
    return tmp_path / "plain-file" / "data" / "bot.db", (
        f"its folder {tmp_path / 'plain-file' / 'data'} cannot be created (not a directory)"
    )


def _a_folder(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "bot.db").mkdir()
    return tmp_path / "bot.db", "it is a folder"


def _not_a_database(tmp_path: Path) -> tuple[Path, str]:
    (tmp_path / "bot.db").write_bytes(b"these are my notes, not SQLite" * 100)
    return tmp_path / "bot.db", "file is not a database"


def _unwritable_folder(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    return folder / "bot.db", f"permission denied on {folder}"


DATABASE_CASES = [_not_a_folder, _a_folder, _not_a_database]
if hasattr(os, "geteuid") and os.geteuid() != 0:  # root opens whatever the mode says
    DATABASE_CASES.append(_unwritable_folder)


@pytest.mark.parametrize("case", DATABASE_CASES, ids=lambda case: case.__name__.strip("_"))
async def test_database_that_cannot_be_opened_is_named_with_why(tmp_path, case):
    path, why = case(tmp_path)
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = {**info_environment(fake, gw, tmp_path), "DATABASE_URL": f"sqlite:///{path}"}
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert_one_error(lines, f"cannot open the database {path}: {why}; fix DATABASE_URL or the path")
    assert fake.find("GET /users/@me") == []  # the database comes before Discord


async def test_dev_guild_the_bot_is_not_in_names_it_with_the_invite(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = {**info_environment(fake, gw, tmp_path), "DEV_GUILD_ID": "123456789012345678"}
        status, lines = await failed_start(env, tmp_path)
    invite = (
        f"https://discord.com/oauth2/authorize?client_id={fake.application_id}"
        "&scope=bot+applications.commands&permissions=274878024704"
    )
    assert status == 1
    assert_one_error(
        lines,
        f"the bot is not in server DEV_GUILD_ID=123456789012345678: invite it with {invite}, "
        "or fix or remove DEV_GUILD_ID",
    )


async def test_unexpected_failure_at_debug_does_not_ask_for_debug(tmp_path):
    # A malformed DISCORD_API_BASE is no start-up failure with a sentence of its own.
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = {**bot_environment(fake, gw, tmp_path), "DISCORD_API_BASE": "http://[::1"}
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert lines[-1].startswith("error: unexpected failure: ")
    assert lines[-1].endswith("; the traceback is logged above")
    assert any("Traceback" in line for line in lines)
    assert "LOG_LEVEL=DEBUG" not in lines[-1]


async def test_unexpected_failure_at_info_says_what_and_how_to_see_more(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = {**info_environment(fake, gw, tmp_path), "DISCORD_API_BASE": "http://[::1"}
        status, lines = await failed_start(env, tmp_path)
    assert status == 1
    assert re.fullmatch(
        r"error: unexpected failure: .+ \(\w+\); run with LOG_LEVEL=DEBUG for the traceback",
        lines[-1],
    ), lines[-1]
    assert not any("Traceback" in line for line in lines)


async def read_until(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> str:
    """Read stderr lines (kept in ``seen``) until one matches ``pattern``."""
    while True:
        try:
            raw = await asyncio.wait_for(stream.readline(), timeout=60)
        except TimeoutError:
            pytest.fail(f"no line matching {pattern!r} in 60 s after:\n" + "\n".join(seen[-20:]))
        assert raw, "stderr ended before: " + pattern + "\n" + "\n".join(seen[-20:])
        line = raw.decode().rstrip("\n")
        seen.append(line)
        if re.search(pattern, line):
            return line


async def test_start_says_who_and_how_to_invite_then_lost_discord_is_one_line_per_retry(
    tmp_path,
):
    fake = FakeDiscord(token=TOKEN)
    await fake.start()
    seen: list[str] = []
    async with FakeGateway() as gw:
        process = await start_bot(info_environment(fake, gw, tmp_path), tmp_path)
        assert process.stderr is not None
        try:
            ready = await read_until(process.stderr, r"logged in as", seen)
            await fake.close()  # Discord goes away: the port is closed from now on
            first = await read_until(process.stderr, r"next attempt in", seen)
            second = await read_until(process.stderr, r"next attempt in", seen)
            # The process is now asleep until its next attempt.
            signalled = time.monotonic()
            process.send_signal(signal.SIGINT)
            _, rest = await asyncio.wait_for(process.communicate(), timeout=30)
            stopped = time.monotonic() - signalled
        finally:
            kill_group(process)
            await fake.close()
    assert ready.endswith(
        f" INFO     bot.discord_bot.app: logged in as {fake.bot_user['username']} "
        f"(id {fake.bot_user['id']}) in 1 server; invite: {invite_url(int(fake.application_id))}"
    ), ready
    host = re.escape(fake.api_base.split("/")[2])
    retry = (
        rf" WARNING  discord.client: cannot reach Discord at {host} \(connection refused\); "
        r"next attempt in \d+\.\d s"
    )
    assert re.search(retry + "$", first), first
    assert re.search(retry + "$", second), second
    assert process.returncode == 0
    print(f"SIGINT during the retry wait stopped the process in {stopped:.2f} s")
    assert not any("Traceback" in line for line in seen)
    assert not any("voice will NOT be supported" in line for line in seen)
    assert "stopping: signal received" in (rest or b"").decode() + "\n".join(seen)


async def test_sigterm_during_a_login_discord_never_answers_stops_the_process(tmp_path):
    accepted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # read the request, never answer it
        accepted.set()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = info_environment(fake, gw, tmp_path)
        env["DISCORD_API_BASE"] = f"http://127.0.0.1:{port}/api/v10"
        process = await start_bot(env, tmp_path)
        try:
            await asyncio.wait_for(accepted.wait(), timeout=60)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
            stopped = time.monotonic() - signalled
        finally:
            kill_group(process)
            for writer in held:
                writer.close()
    lines = stderr.decode().strip().splitlines()
    print(f"SIGTERM during login stopped the process in {stopped:.2f} s")
    assert process.returncode == 0, lines
    assert lines[-1].endswith("INFO     bot.discord_bot.app: stopping: signal received"), lines
    assert not any("Traceback" in line or "error" in line.lower() for line in lines)
