"""/settings driven through the fake Discord: what crossed the wire, and what the database holds."""

from __future__ import annotations

import discord

from bot.discord_bot.access import ensure_can_use
from bot.errors import AccessDenied
from bot.storage.base import GuildSettings
from tests.fakes.gateway import DEFAULT_MODELS
from tests.settings.conftest import Harness, answer_text, is_ephemeral

SUBCOMMANDS = {
    "show",
    "model",
    "aspect_ratio",
    "size",
    "history",
    "gateway",
    "channels",
    "limits",
    "usage",
    "privacy",
    "budget",
}
MEMBER_PERMS = discord.Permissions(send_messages=True)


async def test_sync_registers_settings_for_manage_server_only(harness: Harness) -> None:
    cmd = harness.fake.command("settings", guild_id=str(harness.guild_id))
    assert int(cmd["default_member_permissions"]) == discord.Permissions(manage_guild=True).value
    assert cmd.get("contexts") == [0] or cmd.get("dm_permission") is False
    assert {o["name"] for o in cmd["options"]} == SUBCOMMANDS
    model = next(o for o in cmd["options"] if o["name"] == "model")
    assert model["options"][0]["autocomplete"] is True


async def test_members_without_manage_server_are_refused_by_the_bot(harness: Harness) -> None:
    # Discord would hide /settings from them, but a server can override that: the bot checks too.
    attempts = {
        "show": {},
        "model": {"name": DEFAULT_MODELS[1]},
        "aspect_ratio": {"ratio": "16:9"},
        "size": {"size": "4K"},
        "history": {"turns": 0},
        "gateway": {"reset": True},
        "channels": {"action": "add"},
        "limits": {"user_jobs": 9, "server_jobs": 50},
        "usage": {},
        "privacy": {"mode": "private"},
        "budget": {"amount": "5"},
    }
    for command, options in attempts.items():
        state = await harness.run(command, options, member=harness.member)
        assert is_ephemeral(state), command
        assert "Only members with Manage Server" in answer_text(state), command
        assert state.callback_type != 9, command  # no modal for the gateway either
    assert await harness.settings() == GuildSettings(guild_id=harness.guild_id)


async def test_changes_are_stored_and_confirmed_ephemerally(harness: Harness) -> None:
    steps = [
        ("model", {"name": DEFAULT_MODELS[2]}, "model", DEFAULT_MODELS[2]),
        ("aspect_ratio", {"ratio": "16:9"}, "aspect_ratio", "16:9"),
        ("size", {"size": "2K"}, "image_size", "2K"),
        ("history", {"turns": 3}, "history_turns", 3),
        ("history", {"turns": 0}, "history_turns", 0),
        ("aspect_ratio", {"ratio": "default"}, "aspect_ratio", None),
        ("size", {"size": "default"}, "image_size", None),
        ("model", {"name": "default"}, "model", None),
        ("privacy", {"mode": "public"}, "privacy", "public"),
        ("privacy", {"mode": "members"}, "privacy", "members"),
    ]
    for command, options, field, expected in steps:
        state = await harness.run(command, options)
        assert is_ephemeral(state), command
        # Read back right away: the store is the source of truth, nothing waits on a cache.
        assert getattr(await harness.settings(), field) == expected, (command, options)
        assert "set" in answer_text(state).lower()


async def test_model_must_be_listed_by_the_gateway(harness: Harness) -> None:
    state = await harness.run("model", {"name": "gemini-3-pro-image"})
    text = answer_text(state)
    assert is_ephemeral(state)
    assert "does not list a model called `gemini-3-pro-image`" in text
    assert "gemini-3-pro-image-preview" in text  # the close match is suggested
    assert (await harness.settings()).model is None


async def test_model_autocomplete_lists_the_gateways_models(harness: Harness) -> None:
    harness.gateway.models = [f"vendor/model-{i}" for i in range(40)] + ["gemini-2.5-flash-image"]
    it = await harness.fake.autocomplete(
        "settings model", {"name": "image"}, "name", member=harness.admin
    )
    await harness.fake.wait_until(lambda: it.choices is not None, what="autocomplete choices")
    assert [c["value"] for c in it.choices] == ["gemini-2.5-flash-image"]

    it = await harness.fake.autocomplete(
        "settings model", {"name": ""}, "name", member=harness.admin
    )
    await harness.fake.wait_until(lambda: it.choices is not None, what="autocomplete choices")
    values = [c["value"] for c in it.choices]
    assert len(values) == 25 and values[:2] == ["default", "gemini-2.5-flash-image"]


async def test_out_of_range_values_get_clear_answers(harness: Harness) -> None:
    state = await harness.run("history", {"turns": 21})  # a crafted request past Discord's min/max
    assert is_ephemeral(state) and "between 0 and 20" in answer_text(state)
    state = await harness.run("limits", {"user_jobs": 5, "server_jobs": 3})
    assert "cannot be more than jobs per server" in answer_text(state)
    state = await harness.run("limits", {"user_hourly": 50, "user_daily": 10})
    assert "hourly quota per member (50) cannot be more than the daily one (10)" in answer_text(
        state
    )
    state = await harness.run("model", {"name": "two words"})
    assert "one word" in answer_text(state)
    assert await harness.settings() == GuildSettings(guild_id=harness.guild_id)


async def test_limits_and_quotas(harness: Harness) -> None:
    state = await harness.run(
        "limits",
        {
            "user_jobs": 3,
            "server_jobs": 12,
            "user_hourly": 5,
            "user_daily": 20,
            "server_daily": 100,
        },
    )
    assert is_ephemeral(state)
    s = await harness.settings()
    assert (s.user_concurrency, s.guild_concurrency, s.user_hourly, s.user_daily) == (3, 12, 5, 20)
    assert (s.guild_hourly, s.guild_daily) == (None, 100)
    assert "3 per member, 12 per server" in answer_text(state)

    state = await harness.run("limits", {"user_hourly": 0})  # 0 lifts the quota
    assert (await harness.settings()).user_hourly is None
    state = await harness.run("limits")
    assert "Per member: unlimited/hour, 20/day" in answer_text(state)


async def test_channel_allow_list(harness: Harness) -> None:
    general, images = harness.fake.guild["channels"][:2]
    gid = harness.guild_id

    state = await harness.run(
        "channels", {"action": "add"}, channel=images
    )  # default: this channel
    assert (await harness.settings()).allowed_channels == (int(images["id"]),)
    assert is_ephemeral(state) and "Every other channel is now off limits" in answer_text(state)

    with_member = {"guild_id": gid, "permissions": MEMBER_PERMS}
    await ensure_can_use(harness.bot, channel_id=int(images["id"]), **with_member)
    try:
        await ensure_can_use(harness.bot, channel_id=int(general["id"]), **with_member)
        raise AssertionError("a member was let in outside the allow-list")
    except AccessDenied as exc:
        assert "not enabled in this channel" in str(exc)

    await harness.run("channels", {"action": "add", "channel": general["id"]})
    assert (await harness.settings()).allowed_channels == (int(images["id"]), int(general["id"]))
    state = await harness.run("channels", {"action": "list"})
    assert f"<#{images['id']}>, <#{general['id']}>" in answer_text(state)

    await harness.run("channels", {"action": "remove", "channel": images["id"]})
    assert (await harness.settings()).allowed_channels == (int(general["id"]),)
    state = await harness.run("channels", {"action": "remove", "channel": general["id"]})
    assert "every channel" in answer_text(state)
    assert (await harness.settings()).allowed_channels == ()

    await harness.run("channels", {"action": "add"})
    await harness.run("channels", {"action": "clear"})
    assert (await harness.settings()).allowed_channels == ()


async def test_show_lists_everything_ephemerally(harness: Harness) -> None:
    await harness.run("history", {"turns": 4})
    await harness.run("channels", {"action": "add"})
    state = await harness.run("show")
    assert is_ephemeral(state)
    embed = (
        state.last_message.embeds[0]
        if state.last_message
        else state.callback.json["data"]["embeds"][0]
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert set(fields) == {
        "Model",
        "Aspect ratio",
        "Size",
        "History",
        "Privacy",
        "Reference images",
        "Gateway",
        "Channels",
        "Limits and quotas",
    }
    assert "gemini-2.5-flash-image" in fields["Model"] and "bot default" in fields["Model"]
    assert fields["History"].startswith("4 turns")
    assert fields["Privacy"] == (
        "members choose: results are public unless a member asks private:True (or prefers it)"
    )
    assert harness.gateway.base_url in fields["Gateway"] and "openrouter" in fields["Gateway"]
    assert f"<#{harness.fake.channel['id']}>" in fields["Channels"]
    assert "2 per member, 10 per server" in fields["Limits and quotas"]
    # The bot's default model here is 2.5 Flash Image: fewer references than /blend's six.
    assert fields["Reference images"] == (
        "`gemini-2.5-flash-image` takes up to 3 reference images per job; "
        "/blend takes 2 to 3 images"
    )
    # Changed with the queue: a count above the member's limit runs once they are free.
    assert fields["Limits and quotas"].endswith(
        "Images per /imagine: up to 4 (count:), each one image in the jobs at once and in "
        "the quotas; a member with nothing generating may start any count, which then "
        "counts against their 2 at once\n"
        "Queue: up to 10 jobs wait for room, in order (queue_limit); a member at their own "
        "limit does not hold up the others"
    )


async def test_show_says_what_a_gemini_3_model_takes(harness: Harness) -> None:
    await harness.bot.store.update_settings(harness.guild_id, model="gemini-3-pro-image-preview")
    state = await harness.run("show")
    embed = (
        state.last_message.embeds[0]
        if state.last_message
        else state.callback.json["data"]["embeds"][0]
    )
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Reference images"] == (
        "`gemini-3-pro-image-preview` takes up to 14 reference images per job; "
        "/blend takes 2 to 6 images"
    )


async def test_max_count_is_set_with_the_limits_and_shown(harness: Harness) -> None:
    state = await harness.run("limits", {"max_count": 2, "user_jobs": 4})
    assert (await harness.settings()).max_count == 2
    assert answer_text(state).endswith(
        "Images per /imagine: up to 2 (count:), each one image in the jobs at once and in "
        "the quotas\nQueue: up to 10 jobs wait for room, in order (queue_limit); a member at "
        "their own limit does not hold up the others"
    )
    state = await harness.run("limits", {"max_count": 5})  # a crafted request past the range
    assert "max count must be between 1 and 4." in answer_text(state)
    assert (await harness.settings()).max_count == 2


async def test_queue_limit_is_set_with_the_limits_and_shown(harness: Harness) -> None:
    state = await harness.run("limits", {"queue_limit": 0})
    assert (await harness.settings()).queue_limit == 0
    assert answer_text(state).endswith(
        "Queue: none (a job beyond the limits above is refused at once)"
    )


async def test_usage_lists_members(harness: Harness) -> None:
    store = harness.bot.store
    alice, bob = 111111111111111111, 222222222222222222
    await store.record_usage(guild_id=harness.guild_id, user_id=alice, images=2, tokens=1500)
    await store.record_usage(guild_id=harness.guild_id, user_id=bob, images=5, tokens=300)
    await store.record_usage(guild_id=harness.guild_id, user_id=alice, images=1, tokens=100)
    await store.record_usage(guild_id=999, user_id=bob, images=50, tokens=1)  # another server

    state = await harness.run("usage", {"period": "week"})
    text = answer_text(state)
    assert is_ephemeral(state)
    assert text.index(f"<@{bob}>") < text.index(f"<@{alice}>")  # most images first
    assert f"<@{alice}>: 3 images, 2 jobs, 1,600 tokens" in text
    assert "Total: 8 images" in text
    sent = state.callback.json["data"]
    assert sent["allowed_mentions"]["parse"] == []  # listing members does not ping them


async def test_changes_apply_to_the_very_next_imagine(harness: Harness) -> None:
    general, images = harness.fake.guild["channels"][:2]
    await harness.run("model", {"name": DEFAULT_MODELS[1]})
    await harness.run("aspect_ratio", {"ratio": "16:9"})
    await harness.run("channels", {"action": "add", "channel": images["id"]})

    refused = await harness.fake.slash("imagine", {"prompt": "a fox"}, member=harness.member)
    await harness.fake.interaction_result(refused)
    assert "not enabled in this channel" in answer_text(refused)
    assert not [r for r in harness.gateway.requests if r.method == "POST"]

    made = await harness.fake.slash(
        "imagine", {"prompt": "a fox"}, member=harness.member, channel=images
    )
    await harness.fake.interaction_result(
        made, lambda st: bool(st.last_message and st.last_message.attachments)
    )
    sent = next(r for r in harness.gateway.requests if r.method == "POST")
    assert sent.model == DEFAULT_MODELS[1]
    assert "16:9" in sent.body.decode()


async def test_model_autocomplete_is_empty_for_members(harness: Harness) -> None:
    it = await harness.fake.autocomplete(
        "settings model", {"name": ""}, "name", member=harness.member
    )
    await harness.fake.wait_until(lambda: it.choices is not None, what="autocomplete choices")
    assert it.choices == [] and not harness.gateway.requests


def _history_field(state) -> str:
    embed = (
        state.last_message.embeds[0]
        if state.last_message
        else state.callback.json["data"]["embeds"][0]
    )
    return next(f["value"] for f in embed["fields"] if f["name"] == "History")


async def test_history_of_one_turn_reads_naturally(harness: Harness) -> None:
    confirm = await harness.run("history", {"turns": 1})
    assert "1 turns" not in answer_text(confirm)
    assert "the last turn" in answer_text(confirm)
    shown = _history_field(await harness.run("show"))
    assert shown.startswith("1 turn ") or shown.startswith("1 turn kept")


async def test_history_off_says_what_edits_still_do(harness: Harness) -> None:
    await harness.run("history", {"turns": 0})
    shown = _history_field(await harness.run("show"))
    assert "0 turns" not in shown
    assert shown.lower().startswith("off") and "latest image" in shown
