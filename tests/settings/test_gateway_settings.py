"""/settings gateway: slash -> modal -> key stored encrypted, never shown, never logged."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.storage.base import GuildSettings
from cogs.settings.redaction import SECRET_PREFIX
from tests.settings.conftest import OPERATOR_KEY, Harness, answer_text, is_ephemeral

GUILD_KEY = "sk-guild-Zq8cV1xT0pL3mN7rW2yB"


def _database_bytes(tmp_path: Path) -> bytes:
    # The main file and the WAL: a committed row may still live only in the latter.
    return b"".join(p.read_bytes() for p in sorted(tmp_path.glob("bot.db*")))


async def _open_modal(h: Harness, options: dict[str, object], member: dict | None = None):
    it = await h.fake.slash("settings gateway", options, member=member or h.admin)
    return await h.fake.interaction_result(it)


async def test_key_flow_stores_encrypted_and_never_reveals_it(
    private_harness: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    h = private_harness
    caplog.set_level(logging.DEBUG)

    opened = await _open_modal(h, {"url": h.gateway.base_url + "/", "dialect": "flat"})
    assert opened.callback_type == 9  # a modal, not a message
    inputs = [
        c
        for row in opened.modal["components"]
        for c in row.get("components", [row.get("component")])
    ]
    assert (
        len(inputs) == 1
        and inputs[0]["type"] == 4
        and inputs[0]["custom_id"].startswith(SECRET_PREFIX)
    )
    assert inputs[0]["required"] is True  # no key stored yet, so one must be given
    assert await h.settings() == GuildSettings(guild_id=h.guild_id)  # nothing saved before the key

    submitted = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {inputs[0]["custom_id"]: f"  {GUILD_KEY}  "})
    )
    confirm = answer_text(submitted)
    assert is_ephemeral(submitted)
    assert h.gateway.base_url in confirm and "flat" in confirm and GUILD_KEY not in confirm

    s = await h.settings()
    assert (s.gateway_base_url, s.gateway_dialect) == (h.gateway.base_url, "flat")
    assert s.gateway_key_encrypted and GUILD_KEY.encode() not in s.gateway_key_encrypted
    assert h.bot.keybox.decrypt(s.gateway_key_encrypted) == GUILD_KEY
    assert GUILD_KEY.encode() not in _database_bytes(tmp_path)

    shown = answer_text(
        await h.fake.interaction_result(await h.fake.slash("settings show", member=h.admin))
    )
    assert "set (encrypted)" in shown and GUILD_KEY not in shown

    # The next job in this server uses the new gateway and key.
    config, model = await h.bot.services.gateways.resolve(h.guild_id)
    assert (config.base_url, config.api_key, config.dialect) == (
        h.gateway.base_url,
        GUILD_KEY,
        "flat",
    )
    it = await h.fake.autocomplete("settings model", {"name": ""}, "name", member=h.admin)
    await h.fake.wait_until(lambda: it.choices is not None, what="autocomplete choices")
    assert h.gateway.requests[-1].headers["authorization"] == f"Bearer {GUILD_KEY}"
    made = await h.fake.slash("imagine", {"prompt": "a red fox"}, member=h.member)
    await h.fake.interaction_result(
        made, lambda st: bool(st.original and st.original.attachments) or bool(st.followups)
    )
    assert made.last_message is not None and made.last_message.attachments  # an image, not an error
    generation = next(r for r in h.gateway.requests if r.method == "POST")
    assert generation.headers["authorization"] == f"Bearer {GUILD_KEY}"

    # Nothing anywhere in the DEBUG log: discord.py's raw events, HTTP bodies, our own lines.
    assert caplog.records
    assert GUILD_KEY not in caplog.text
    assert all(GUILD_KEY not in repr(r.args) for r in caplog.records)
    everything_sent = repr([(r.json, r.body) for r in h.fake.requests])
    assert GUILD_KEY not in everything_sent


async def test_rotating_the_key_and_keeping_it(private_harness: Harness) -> None:
    h = private_harness
    opened = await _open_modal(h, {"url": h.gateway.base_url})
    key_id = opened.modal["components"][0]["components"][0]["custom_id"]
    await h.fake.interaction_result(await h.fake.submit_modal(opened, {key_id: GUILD_KEY}))
    first = (await h.settings()).gateway_key_encrypted

    # Same URL, no url option: the modal may be left empty to keep the stored key.
    opened = await _open_modal(h, {"dialect": "plain"})
    assert opened.modal["components"][0]["components"][0]["required"] is False
    done = await h.fake.interaction_result(await h.fake.submit_modal(opened, {}))
    assert "kept" in answer_text(done)
    s = await h.settings()
    assert s.gateway_key_encrypted == first and s.gateway_dialect == "plain"

    opened = await _open_modal(h, {})
    await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {key_id: "sk-rotated-key-000111"})
    )
    assert (
        h.bot.keybox.decrypt((await h.settings()).gateway_key_encrypted) == "sk-rotated-key-000111"
    )


async def test_reset_goes_back_to_the_default_gateway(private_harness: Harness) -> None:
    h = private_harness
    opened = await _open_modal(h, {"url": h.gateway.base_url})
    key_id = opened.modal["components"][0]["components"][0]["custom_id"]
    await h.fake.interaction_result(await h.fake.submit_modal(opened, {key_id: GUILD_KEY}))
    assert (await h.settings()).has_own_gateway

    state = await h.fake.interaction_result(
        await h.fake.slash("settings gateway", {"reset": True}, member=h.admin)
    )
    assert is_ephemeral(state) and "default gateway" in answer_text(state)
    s = await h.settings()
    assert (s.gateway_base_url, s.gateway_dialect, s.gateway_key_encrypted) == (None, None, None)
    config, _ = await h.bot.services.gateways.resolve(h.guild_id)
    assert config.api_key == OPERATOR_KEY


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v1",
        "http://169.254.169.254/latest",
        "http://[::1]/v1",
        "http://localhost:9/v1",
    ],
)
async def test_private_gateway_urls_are_refused(harness: Harness, url: str) -> None:
    state = await _open_modal(harness, {"url": url})
    assert state.callback_type == 4 and is_ephemeral(state)  # refused before any modal
    assert "private or local network" in answer_text(state)
    assert await harness.settings() == GuildSettings(guild_id=harness.guild_id)


async def test_gateway_needs_a_url_first(harness: Harness) -> None:
    state = await _open_modal(harness, {"dialect": "google"})
    assert "Give the gateway's url" in answer_text(state)
    state = await _open_modal(harness, {"url": "ftp://example.com/v1"})
    assert "https://" in answer_text(state)


async def test_modal_submit_rechecks_the_member(private_harness: Harness) -> None:
    # An admin opens the modal, loses Manage Server, then submits: the bot checks again.
    h = private_harness
    opened = await _open_modal(h, {"url": h.gateway.base_url})
    key_id = opened.modal["components"][0]["components"][0]["custom_id"]
    demoted = {**h.admin, "permissions": h.member["permissions"]}
    state = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {key_id: GUILD_KEY}, member=demoted)
    )
    assert is_ephemeral(state) and "Only members with Manage Server" in answer_text(state)
    assert await h.settings() == GuildSettings(guild_id=h.guild_id)
