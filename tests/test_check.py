"""``python -m bot check`` as an operator runs it, against the fake Discord and the fake gateway."""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path

import pytest

from tests.fakes.discord import INTENT_MESSAGE_CONTENT, PRIVILEGED_INTENTS, FakeDiscord
from tests.fakes.gateway import FakeGateway, Reply, markdown_response, png_bytes
from tests.test_cli import run_cli

TOKEN = "check-test-discord-token.ABC"
GATEWAY_KEY = "sk-check-test-gateway-key-77"
SECRET = "check-test-secret-key-0123456789"


@pytest.fixture
async def fakes():
    async with FakeDiscord.running(token=TOKEN, bot_name="imagine-bot") as discord:
        async with FakeGateway(api_key=GATEWAY_KEY) as gateway:
            yield discord, gateway


def environment(discord: FakeDiscord, gateway: FakeGateway, tmp_path: Path) -> dict[str, str]:
    return {
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": discord.api_base,
        "IMAGE_API_BASE_URL": gateway.base_url,
        "IMAGE_API_KEY": GATEWAY_KEY,
        "SECRET_KEY": SECRET,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'bot.db'}",
    }


async def check(env: dict[str, str], tmp_path: Path, *flags: str) -> tuple[int, list[str], str]:
    code, out, err = await run_cli("check", *flags, env=env, cwd=tmp_path)
    assert "Traceback" not in err, err
    return code, out.splitlines(), err


def passing_lines(discord: FakeDiscord, gateway: FakeGateway, tmp_path: Path) -> list[str]:
    return [
        f"ok   config: all settings valid (no .env at {tmp_path / 'no.env'})",
        f"ok   token: imagine-bot (id {discord.bot_user['id']})",
        "ok   intents: Message Content enabled",
        f"ok   database: {tmp_path / 'data' / 'bot.db'} (schema v{_latest()}, writable)",
        f"ok   gateway: {gateway.base_url.split('//')[1].split('/')[0]} accepted the key "
        "and lists gemini-2.5-flash-image",
    ]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _latest() -> int:
    from bot.storage.sqlite.migrations import LATEST_VERSION

    return LATEST_VERSION


async def test_a_passing_check_is_five_ok_lines_and_exit_0(fakes, tmp_path):
    discord, gateway = fakes
    code, lines, err = await check(environment(discord, gateway, tmp_path), tmp_path)
    assert (code, err) == (0, "")
    assert lines == passing_lines(discord, gateway, tmp_path)
    assert gateway.requests[0].path == "/v1/models"  # nothing paid for


async def test_generate_spends_one_image_and_reports_its_size(fakes, tmp_path):
    discord, gateway = fakes
    gateway.script(Reply(body=markdown_response([png_bytes(1024, 1024)])))
    code, lines, _ = await check(environment(discord, gateway, tmp_path), tmp_path, "--generate")
    assert code == 0
    assert lines[-1] == (
        "ok   generate: gemini-2.5-flash-image returned a 1024×1024 image/png (1K) "
        "with dialect auto"
    )
    assert [r.path for r in gateway.requests] == ["/v1/models", "/v1/chat/completions"]


async def test_generate_without_an_image_fails_naming_the_dialect(fakes, tmp_path):
    discord, gateway = fakes
    gateway.script(*[Reply(body=markdown_response([], "I only talk."))] * 4)
    code, lines, err = await check(environment(discord, gateway, tmp_path), tmp_path, "--generate")
    assert code == 1
    assert lines[-1].startswith("FAIL generate: ")
    assert err == "check: 1 of 6 failed (generate)\n"


async def test_missing_and_invalid_settings_are_all_on_one_line(fakes, tmp_path):
    discord, gateway = fakes
    env = environment(discord, gateway, tmp_path)
    del env["SECRET_KEY"], env["IMAGE_API_KEY"]
    env.update(LOG_LEVEL="LOUD", JOB_RETENTION_DAYS="soon")
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[0] == (
        "FAIL config: LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got 'LOUD'; "
        "IMAGE_API_KEY, SECRET_KEY are not set (see .env.example); "
        "JOB_RETENTION_DAYS must be a number, got 'soon'; "
        f"no .env at {tmp_path / 'no.env'}."
    )
    assert lines[-1] == "FAIL gateway: not checked: IMAGE_API_KEY is not set (see .env.example)."


async def test_a_rejected_token(fakes, tmp_path):
    discord, gateway = fakes
    env = {**environment(discord, gateway, tmp_path), "DISCORD_TOKEN": "wrong-token"}
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[1:3] == [
        "FAIL token: Discord rejected DISCORD_TOKEN (401 Unauthorized). Reset the token in the "
        "Developer Portal (Bot → Reset Token) and put the new one in .env.",
        "FAIL intents: not checked: the token was rejected.",
    ]
    assert "wrong-token" not in "\n".join(lines)


async def test_an_unreachable_discord_names_host_and_cause(fakes, tmp_path):
    discord, gateway = fakes
    port = closed_port()
    env = {**environment(discord, gateway, tmp_path)}
    env["DISCORD_API_BASE"] = f"http://127.0.0.1:{port}/api/v10"
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[1] == (
        f"FAIL token: cannot reach Discord at 127.0.0.1:{port}: connection refused. "
        "Check the network (or DISCORD_API_BASE)."
    )


async def test_the_message_content_intent_switched_off(tmp_path):
    without = PRIVILEGED_INTENTS & ~INTENT_MESSAGE_CONTENT
    async with (
        FakeDiscord.running(token=TOKEN, allowed_intents=without) as discord,
        FakeGateway(api_key=GATEWAY_KEY) as gateway,
    ):
        env = environment(discord, gateway, tmp_path)
        code, lines, _ = await check(env, tmp_path)
        assert code == 1
        assert lines[2] == (
            "FAIL intents: the Message Content intent is off. Switch it on in the Developer "
            "Portal (Bot → Privileged Gateway Intents), or set MESSAGE_CONTENT_INTENT=false."
        )
        code, lines, _ = await check({**env, "MESSAGE_CONTENT_INTENT": "false"}, tmp_path)
        assert code == 0
        assert lines[2] == (
            "ok   intents: Message Content not asked for (MESSAGE_CONTENT_INTENT=false): "
            "only replies that @mention the bot edit images"
        )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only file")
async def test_a_read_only_database(fakes, tmp_path):
    discord, gateway = fakes
    env = environment(discord, gateway, tmp_path)
    assert (await check(env, tmp_path))[0] == 0
    db = tmp_path / "data" / "bot.db"
    db.chmod(0o400)
    code, lines, _ = await check(env, tmp_path)
    assert code == 1 and lines[3].startswith(f"FAIL database: cannot open or write {db}: ")


async def test_a_database_path_that_cannot_be_a_file(fakes, tmp_path):
    discord, gateway = fakes
    (tmp_path / "data").write_bytes(b"a file where the folder should be")
    code, lines, _ = await check(environment(discord, gateway, tmp_path), tmp_path)
    assert code == 1
    # The same sentence the bot's own start-up gives for this path.
    assert lines[3] == (
        f"FAIL database: cannot open the database {tmp_path / 'data' / 'bot.db'}: its folder "
        f"{tmp_path / 'data'} cannot be created (file exists); fix DATABASE_URL or the path."
    )


async def test_a_database_of_a_newer_version_is_named(fakes, tmp_path):
    discord, gateway = fakes
    env = environment(discord, gateway, tmp_path)
    assert (await check(env, tmp_path))[0] == 0
    with sqlite3.connect(tmp_path / "data" / "bot.db") as db:
        db.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 0)")
    code, lines, _ = await check(env, tmp_path)
    assert code == 1 and lines[3].startswith("FAIL database: ") and "Upgrade the bot" in lines[3]


async def test_a_rejected_gateway_key(fakes, tmp_path):
    discord, gateway = fakes
    env = {**environment(discord, gateway, tmp_path), "IMAGE_API_KEY": "sk-wrong"}
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[4].startswith("FAIL gateway: The image service rejected the API key.")
    assert lines[4].endswith("Check IMAGE_API_KEY.")


async def test_a_model_the_gateway_does_not_list(fakes, tmp_path):
    discord, gateway = fakes
    gateway.models = ["gemini-3-pro-image-preview"]
    code, lines, _ = await check(environment(discord, gateway, tmp_path), tmp_path)
    assert code == 1
    host = gateway.base_url.split("//")[1].split("/")[0]
    assert lines[4] == (
        f"FAIL gateway: {host} does not list the model gemini-2.5-flash-image among its 1 "
        "(gemini-3-pro-image-preview). Set IMAGE_MODEL to one it lists."
    )


async def test_an_unreachable_gateway_names_the_host(fakes, tmp_path):
    discord, gateway = fakes
    port = closed_port()
    env = {**environment(discord, gateway, tmp_path)}
    env["IMAGE_API_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[4] == (
        f"FAIL gateway: The image service at 127.0.0.1:{port} refused the connection."
    )


@pytest.mark.parametrize("token", [TOKEN[:10] + "\n" + TOKEN[10:], TOKEN + "é"])
async def test_a_token_that_cannot_be_a_header_is_refused_before_any_request(
    fakes, tmp_path, token
):
    discord, gateway = fakes
    env = {**environment(discord, gateway, tmp_path), "DISCORD_TOKEN": token}
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    sentence = (
        "DISCORD_TOKEN contains a line break or a non-ASCII character; "
        "paste it again from the Developer Portal"
    )
    assert lines[0] == f"FAIL config: {sentence}; no .env at {tmp_path / 'no.env'}."
    assert lines[1:3] == [
        f"FAIL token: {sentence}.",
        "FAIL intents: not checked without DISCORD_TOKEN.",
    ]
    assert discord.requests == []
    assert TOKEN[:10] not in "\n".join(lines)


async def test_a_key_that_cannot_be_a_header_is_refused_before_any_request(fakes, tmp_path):
    discord, gateway = fakes
    env = {**environment(discord, gateway, tmp_path), "IMAGE_API_KEY": "sk-check\nkey-77"}
    code, lines, _ = await check(env, tmp_path)
    assert code == 1
    assert lines[4] == (
        "FAIL gateway: not checked: IMAGE_API_KEY contains a line break or a non-ASCII "
        "character; paste it again from the gateway's dashboard."
    )
    assert gateway.requests == []


def test_an_unclassified_connection_error_loses_the_token_and_the_key():
    import httpx

    from bot.check import _reason

    key = "sk-unrelated-gateway-key-1234"
    error = httpx.LocalProtocolError(f"Illegal header value b'Bot {TOKEN}' with {key}")
    reason = _reason(error, (TOKEN, key))
    assert reason == "Illegal header value b'Bot [redacted]' with [redacted]"


async def test_generate_is_not_tried_when_the_config_line_failed(fakes, tmp_path):
    discord, gateway = fakes
    gateway.script(Reply(body=markdown_response([png_bytes(64, 64)])))
    env = {**environment(discord, gateway, tmp_path), "LOG_LEVEL": "LOUD"}
    code, lines, _ = await check(env, tmp_path, "--generate")
    assert code == 1
    assert lines[0].startswith("FAIL config: LOG_LEVEL must be")
    assert lines[-1] == "FAIL generate: not tried: fix the config line first."
    assert [r.path for r in gateway.requests] == ["/v1/models"]  # nothing paid for
    assert gateway.pending == 1
