"""``python -m bot`` as an operator starts it: a real process, configured only by environment.

The other bot tests drive the same ``open_bot`` object in-process; this one proves the
entry point wires it up (settings, endpoints, logging, shutdown) the way the README says.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes
from tests.harness import final_answer
from tests.processes import GATEWAY_KEY, SECRET_KEY, TOKEN, bot_environment


async def test_python_m_bot_serves_imagine_and_stops_cleanly(tmp_path):
    result_image = png_bytes(24, 16, (10, 120, 250))
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway(api_key=GATEWAY_KEY) as gw:
        gw.script(Reply(body=images_response([result_image])))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=bot_environment(fake, gw, tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        # Read as it writes: its DEBUG log (the command sync's payload alone, with every
        # language's names, is ~200 KB) would fill the pipe and block the bot on a write.
        output = asyncio.ensure_future(process.communicate())
        try:
            guild_id = str(fake.guild["id"])
            await fake.wait_for(f"PUT /applications/*/guilds/{guild_id}/commands", timeout=30)
            synced = {command["name"] for command in fake.guild_commands[guild_id]}
            assert {"imagine", "edit", "reset", "settings", "Edit image"} <= synced
            await fake.wait_until(lambda: bool(fake.identifies), timeout=30)

            interaction = await fake.slash("imagine", {"prompt": "a lighthouse at dawn"})
            state = await fake.interaction_result(interaction, final_answer, timeout=30)
        finally:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            stdout, stderr = await asyncio.wait_for(output, timeout=30)

    log = stderr.decode()
    assert state.callback_type == 5
    assert state.original is not None
    assert [data for _, data in state.original.files] == [result_image]
    body = gw.requests[0].json
    assert body["modalities"] == ["image", "text"]
    assert body["messages"][-1]["content"] == "a lighthouse at dawn"
    assert gw.requests[0].headers["authorization"] == f"Bearer {GATEWAY_KEY}"
    assert process.returncode == 0, log[-2000:]
    assert "Traceback" not in log
    for secret in (TOKEN, GATEWAY_KEY, SECRET_KEY):
        assert secret not in log
        assert secret not in stdout.decode()


@pytest.mark.parametrize(
    ("missing", "expected"),
    [("DISCORD_TOKEN", "DISCORD_TOKEN is not set"), ("SECRET_KEY", "SECRET_KEY is not set")],
)
async def test_missing_setting_is_one_line(tmp_path, missing, expected):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = bot_environment(fake, gw, tmp_path)
        del env[missing]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    assert process.returncode == 1
    assert stderr.decode().strip().splitlines() == [f"error: {expected} (see .env.example)"]


async def test_rejected_token_is_one_line(tmp_path):
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = bot_environment(fake, gw, tmp_path)
        env["DISCORD_TOKEN"] = "not-the-right-token"
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)

    lines = stderr.decode().strip().splitlines()
    assert process.returncode == 1
    assert lines[-1] == (
        "error: DISCORD_TOKEN was rejected by Discord: reset it in the Discord Developer "
        "Portal (Bot → Reset Token) and put the new one in .env"
    )
    assert "Traceback" not in stderr.decode()
    assert "not-the-right-token" not in stderr.decode()
