"""A server's own gateway (set by /settings gateway) is used, and may not reach private networks."""

from __future__ import annotations

import io
import logging
import sys
from dataclasses import replace

import pytest

from bot.logging_setup import configure_logging
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import GATEWAY_KEY, BotHarness

IMAGE = png_bytes(16, 16, (3, 3, 3))


async def _use_own_gateway(h: BotHarness, key: str) -> None:
    await h.store.update_settings(
        h.guild_id,
        gateway_base_url=h.gw.base_url,
        gateway_dialect="openrouter",
        gateway_key_encrypted=h.bot.keybox.encrypt(key),
        model="google/gemini-3-pro-image",
    )


async def test_guild_gateway_on_a_private_address_is_refused(running_bot: BotHarness) -> None:
    h = running_bot
    await _use_own_gateway(h, GATEWAY_KEY)
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))
    assert "private or local network" in st.last_message.content
    assert h.gw.requests == []


async def test_guild_gateway_key_and_model_are_used(running_bot: BotHarness) -> None:
    h = running_bot
    # The operator's own key is wrong for this gateway: success proves the guild's key went out.
    image = replace(h.settings.image, allow_private_gateways=True, api_key="operator-key-not-valid")
    await h.restart(image=image)
    await _use_own_gateway(h, GATEWAY_KEY)
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))

    (req,) = h.gw.requests
    assert req.headers["authorization"] == f"Bearer {GATEWAY_KEY}"
    assert req.json["model"] == "google/gemini-3-pro-image"
    assert req.json["modalities"] == ["image", "text"]
    assert st.original.files[0][1] == IMAGE


async def test_a_guild_key_decrypted_at_run_time_is_redacted_from_the_log(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    # Shaped like no known credential: only being told about it can redact it.
    key = "gw.Zq8cV1xT0pL3mN7rW2yBq4Hs-run-time"
    await _use_own_gateway(h, key)
    config, _ = await h.bot.services.gateways.resolve(h.guild_id)
    assert config.api_key == key

    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO")
        logging.getLogger("tests.careless").warning("calling with key=%s", key)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    logged = stream.getvalue()
    assert "calling with key=[REDACTED]" in logged and key not in logged


async def test_a_new_secret_key_with_the_old_one_as_previous_keeps_every_server_key(
    running_bot: BotHarness,
) -> None:
    from bot.secrets import KeyBox

    h = running_bot
    image = replace(h.settings.image, allow_private_gateways=True, api_key="operator-key-not-valid")
    await h.restart(image=image)
    await _use_own_gateway(h, GATEWAY_KEY)  # encrypted with the current SECRET_KEY
    old_secret, new_secret = h.settings.secret_key, "a-brand-new-secret-key-2026"

    await h.restart(secret_key=new_secret, previous_secret_key=old_secret)
    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}))

    assert h.gw.requests[0].headers["authorization"] == f"Bearer {GATEWAY_KEY}"
    assert st.original.files[0][1] == IMAGE
    # Re-encrypted at start-up: the new key alone now reads it, so the old one can go.
    stored = (await h.store.get_settings(h.guild_id)).gateway_key_encrypted
    assert KeyBox(new_secret).decrypt(stored) == GATEWAY_KEY
