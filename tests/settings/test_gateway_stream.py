"""/settings gateway stream: stored per server, shown by /settings show, sent on the wire."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.i18n import render
from bot.storage.base import GuildSettings
from cogs.settings.render import gateway_text
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.settings.conftest import OPERATOR_KEY, Harness, answer_text, is_ephemeral

GUILD_KEY = "sk-guild-stream-5Hq2LwP9xZ"


async def _set_gateway(h: Harness, options: dict[str, object], key: str = "") -> str:
    opened = await h.fake.interaction_result(
        await h.fake.slash("settings gateway", options, member=h.admin)
    )
    assert opened.callback_type == 9, answer_text(opened)  # the key modal
    key_id = opened.modal["components"][0]["components"][0]["custom_id"]
    done = await h.fake.submit_modal(opened, {key_id: key} if key else {})
    return answer_text(await h.fake.interaction_result(done))


async def _shown(h: Harness) -> str:
    return answer_text(await h.run("show"))


async def _imagine_stream(h: Harness) -> tuple[object, str]:
    """The ``stream`` field and the authorization of the next /imagine request."""
    before = len(h.gateway.requests)
    h.gateway.script(Reply(body=images_response([png_bytes(9, 5, (10, 120, 240))])))
    made = await h.fake.slash("imagine", {"prompt": "a red fox"}, member=h.member)
    await h.fake.interaction_result(
        made, lambda st: bool(st.original and st.original.attachments) or bool(st.followups)
    )
    assert made.last_message is not None and made.last_message.attachments
    (generation,) = [r for r in h.gateway.requests[before:] if r.method == "POST"]
    return generation.json["stream"], generation.headers["authorization"]


async def test_stream_on_is_stored_shown_and_sent(private_harness: Harness) -> None:
    h = private_harness
    confirm = await _set_gateway(h, {"url": h.gateway.base_url, "stream": "on"}, GUILD_KEY)
    assert "streaming `on`" in confirm and GUILD_KEY not in confirm
    s = await h.settings()
    assert (s.gateway_base_url, s.gateway_dialect, s.gateway_stream) == (
        h.gateway.base_url,
        "auto",
        "on",
    )
    assert "Streaming: `on`" in await _shown(h)

    assert await _imagine_stream(h) == (True, f"Bearer {GUILD_KEY}")


async def test_changing_only_stream_applies_at_once_and_keeps_url_dialect_and_key(
    private_harness: Harness,
) -> None:
    h = private_harness
    await _set_gateway(h, {"url": h.gateway.base_url, "dialect": "flat"}, GUILD_KEY)
    before = await h.settings()
    assert before.gateway_stream is None  # follows the bot's IMAGE_API_STREAM
    assert "Streaming: `auto`" in await _shown(h)
    operator, gateways = h.bot.settings, h.bot.services.gateways
    h.bot.settings = replace(operator, image=replace(operator.image, stream="on"))
    gateways.image = h.bot.settings.image  # what /settings shows and what jobs resolve
    assert (await gateways.resolve(h.guild_id))[0].stream == "on"
    assert "Streaming: `on`" in await _shown(h)
    h.bot.settings, gateways.image = operator, operator.image

    answered = await h.run("gateway", {"stream": "on"})  # no key form: nothing to type
    assert answered.callback_type == 4 and is_ephemeral(answered)
    assert answer_text(answered) == (
        f"Gateway set to `{h.gateway.base_url}` (dialect `flat`, streaming `on`). "
        "The API key was kept and will not be shown again."
    )
    after = await h.settings()
    assert after.gateway_stream == "on"
    assert (after.gateway_base_url, after.gateway_dialect, after.gateway_key_encrypted) == (
        before.gateway_base_url,
        "flat",
        before.gateway_key_encrypted,
    )
    assert await _imagine_stream(h) == (True, f"Bearer {GUILD_KEY}")

    # Changing the dialect alone keeps the chosen stream mode too.
    await _set_gateway(h, {"dialect": "plain"})
    assert (await h.settings()).gateway_stream == "on"


async def test_stream_default_follows_the_bot_again_and_keeps_the_key(
    private_harness: Harness,
) -> None:
    h = private_harness
    await _set_gateway(h, {"url": h.gateway.base_url, "stream": "on"}, GUILD_KEY)
    stored = await h.settings()
    assert await _imagine_stream(h) == (True, f"Bearer {GUILD_KEY}")

    answered = await h.run("gateway", {"stream": "default"})
    assert answer_text(answered) == (
        f"Gateway set to `{h.gateway.base_url}` (dialect `auto`, streaming `auto`, the bot's "
        "IMAGE_API_STREAM). The API key was kept and will not be shown again."
    )
    assert await h.settings() == replace(stored, gateway_stream=None)
    assert "Streaming: `auto`" in await _shown(h)
    assert await _imagine_stream(h) == (False, f"Bearer {GUILD_KEY}")


@pytest.mark.parametrize("stream", ["on", "default"])
async def test_the_bots_own_gateway_streams_as_the_operator_set(
    harness: Harness, stream: str
) -> None:
    h = harness
    answered = await h.run("gateway", {"stream": stream})
    assert is_ephemeral(answered)
    assert answer_text(answered) == (
        "This server uses the bot's gateway, whose streaming the bot's operator sets with "
        "IMAGE_API_STREAM (now `auto`). To choose it for this server, give it its own "
        "gateway with /settings gateway url: and stream:."
    )
    assert await h.settings() == GuildSettings(guild_id=h.guild_id)
    assert await _imagine_stream(h) == (False, f"Bearer {OPERATOR_KEY}")


async def test_reset_clears_stream_and_refuses_both_at_once(private_harness: Harness) -> None:
    h = private_harness
    await _set_gateway(h, {"url": h.gateway.base_url, "stream": "on"}, GUILD_KEY)
    refused = await h.run("gateway", {"reset": True, "stream": "off"})
    assert "not both" in answer_text(refused)
    assert (await h.settings()).gateway_stream == "on"

    await h.run("gateway", {"reset": True})
    assert await h.settings() == GuildSettings(guild_id=h.guild_id)
    config, _ = await h.bot.services.gateways.resolve(h.guild_id)
    assert config.stream == h.bot.settings.image.stream == "auto"
    assert "Streaming: `auto`" in await _shown(h)


def test_show_names_the_stream_mode_that_applies() -> None:
    own = GuildSettings(guild_id=1, gateway_base_url="https://gw.example/v1")
    assert "Streaming: `on`" in render(
        gateway_text(own, default_url=None, default_dialect="auto", default_stream="on")
    )
    chosen = GuildSettings(
        guild_id=1, gateway_base_url="https://gw.example/v1", gateway_stream="off"
    )
    assert "Streaming: `off`" in render(
        gateway_text(chosen, default_url=None, default_dialect="auto", default_stream="on")
    )
    bot_default = render(
        gateway_text(
            GuildSettings(guild_id=1),
            default_url="https://op.example/v1",
            default_dialect="google",
            default_stream="on",
        )
    )
    assert bot_default.endswith("Dialect: `google`\nStreaming: `on`")
