"""/settings gateway stream: stored per server, shown by /settings show, sent on the wire."""

from __future__ import annotations

from dataclasses import replace

from bot.storage.base import GuildSettings
from cogs.settings.render import gateway_text
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.settings.conftest import Harness, answer_text

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

    image = png_bytes(9, 5, (10, 120, 240))
    h.gateway.script(Reply(body=images_response([image])))
    made = await h.fake.slash("imagine", {"prompt": "a red fox"}, member=h.member)
    await h.fake.interaction_result(
        made, lambda st: bool(st.original and st.original.attachments) or bool(st.followups)
    )
    assert made.last_message is not None and made.last_message.attachments
    (generation,) = [r for r in h.gateway.requests if r.method == "POST"]
    assert generation.json["stream"] is True
    assert generation.headers["authorization"] == f"Bearer {GUILD_KEY}"


async def test_changing_only_stream_keeps_url_dialect_and_key(private_harness: Harness) -> None:
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

    confirm = await _set_gateway(h, {"stream": "off"})  # the modal left empty
    assert "kept" in confirm and "streaming `off`" in confirm
    after = await h.settings()
    assert after.gateway_stream == "off"
    assert (after.gateway_base_url, after.gateway_dialect, after.gateway_key_encrypted) == (
        before.gateway_base_url,
        "flat",
        before.gateway_key_encrypted,
    )
    config, _ = await h.bot.services.gateways.resolve(h.guild_id)
    assert (config.stream, config.dialect, config.api_key) == ("off", "flat", GUILD_KEY)

    # Changing the dialect alone keeps the chosen stream mode too.
    await _set_gateway(h, {"dialect": "plain"})
    assert (await h.settings()).gateway_stream == "off"


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
    assert "Streaming: `on`" in gateway_text(
        own, default_url=None, default_dialect="auto", default_stream="on"
    )
    chosen = GuildSettings(
        guild_id=1, gateway_base_url="https://gw.example/v1", gateway_stream="off"
    )
    assert "Streaming: `off`" in gateway_text(
        chosen, default_url=None, default_dialect="auto", default_stream="on"
    )
    bot_default = gateway_text(
        GuildSettings(guild_id=1),
        default_url="https://op.example/v1",
        default_dialect="google",
        default_stream="on",
    )
    assert bot_default.endswith("Dialect: `google`\nStreaming: `on`")
