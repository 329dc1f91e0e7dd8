"""The fake Discord's own strictness: it refuses what Discord refuses, as Discord does."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord.http import json_or_text

from tests.fakes import discord_payloads as p
from tests.fakes.discord import FakeDiscord

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image body" * 10


@pytest.fixture
async def http(fake_discord: FakeDiscord) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=fake_discord.api_base + "/") as session:
        yield session


async def _interaction(fake: FakeDiscord) -> tuple[str, str]:
    st = fake.register_interaction(p.slash_command("ping", **fake.envelope(p.member(fake.guild))))
    return f"interactions/{st.id}/{st.token}/callback", f"webhooks/{fake.application_id}/{st.token}"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"type": 99}, 50035),
        ({"data": {"content": "no type"}}, 50035),
        ({"type": 4}, 50035),
        ({"type": 4, "data": {"content": ""}}, 50006),
        ({"type": 4, "data": {"content": "x" * 2001}}, 50035),
        (
            {"type": 9, "data": {"custom_id": "m", "components": [{"type": 1, "components": []}]}},
            50035,
        ),
        ({"type": 9, "data": {"title": "t", "custom_id": "m", "components": []}}, 50035),
        ({"type": 7, "data": {"content": "not a component interaction"}}, 40043),
        (
            {
                "type": 4,
                "data": {
                    "content": "x",
                    "components": [
                        {"type": 1, "components": [{"type": 2, "style": 1, "label": "a"}]}
                    ],
                },
            },
            50035,
        ),
    ],
)
async def test_malformed_callback_is_rejected(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession, body: dict, code: int
) -> None:
    callback, _ = await _interaction(fake_discord)
    async with http.post(callback, json=body, params={"with_response": "1"}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == code
    async with http.post(callback, json={"type": 5}, params={"with_response": "1"}) as resp:
        assert resp.status == 200  # a rejected callback does not count as an acknowledgement


async def test_second_callback_and_premature_follow_up(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    callback, webhook = await _interaction(fake_discord)
    async with http.post(webhook, json={"content": "too early"}, params={"wait": "1"}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10015
    async with http.post(
        callback, json={"type": 4, "data": {"content": "hi"}}, params={"with_response": "1"}
    ) as resp:
        answer = await resp.json()
        assert resp.status == 200 and answer["resource"]["message"]["content"] == "hi"
        assert answer["interaction"]["response_message_id"] == answer["resource"]["message"]["id"]
    async with http.post(callback, json={"type": 4, "data": {"content": "again"}}) as resp:
        assert resp.status == 400 and (await resp.json())["code"] == 40060
    async with http.post("interactions/1/nope/callback", json={"type": 5}) as resp:
        assert resp.status == 404 and (await resp.json())["code"] == 10062


async def test_oversize_upload_is_413(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    callback, _ = await _interaction(fake_discord)
    form = aiohttp.FormData(quote_fields=False)
    form.add_field(
        "payload_json", '{"type": 4, "data": {"attachments": [{"id": 0, "filename": "big.png"}]}}'
    )
    big = io.BytesIO(b"\0" * (p.upload_limit(fake_discord.guild) + 1))
    form.add_field("files[0]", big, filename="big.png", content_type="application/octet-stream")
    async with http.post(callback, data=form) as resp:
        assert resp.status == 413 and (await resp.json())["code"] == 40005


async def test_json_content_type_is_exact_and_discord_py_depends_on_it(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    async with http.get("users/@me", headers=auth) as resp:
        assert resp.headers["Content-Type"] == "application/json"
        assert await json_or_text(resp) == fake_discord.bot_user
    fake_discord.inject(
        "GET /users/@me",
        status=200,
        body=fake_discord.bot_user,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    async with http.get("users/@me", headers=auth) as resp:
        assert isinstance(
            await json_or_text(resp), str
        )  # what discord.py would make of a charset suffix
    async with http.get("users/@me") as resp:
        assert resp.status == 401


async def test_rate_limit_without_via_is_not_retried(fake_discord: FakeDiscord) -> None:
    fake_discord.rate_limit("GET /users/@me", via=False)
    client = discord.Client(intents=discord.Intents.none())
    try:
        with pytest.raises(discord.HTTPException) as info:
            await client.login(fake_discord.token)
        assert info.value.status == 429
    finally:
        await client.close()
    assert [r.status for r in fake_discord.find("GET /users/@me")] == [429]


async def test_command_sync_validation(
    fake_discord: FakeDiscord, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"Bot {fake_discord.token}"}
    url = f"applications/{fake_discord.application_id}/commands"
    for bad in (
        [{"name": "Imagine", "description": "upper case"}],
        [{"name": "imagine", "description": ""}],
        [{"name": "Edit image", "type": 3, "description": "context menus have none"}],
        [
            {
                "name": "x",
                "description": "d",
                "options": [
                    {"name": "a", "description": "d", "type": 3},
                    {"name": "b", "description": "d", "type": 3, "required": True},
                ],
            }
        ],
    ):
        async with http.put(url, json=bad, headers=auth) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035, bad
    assert fake_discord.global_commands == []
