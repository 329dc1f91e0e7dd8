"""The fake Discord, exercised by a real discord.py bot over loopback, and its own strictness."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakes import discord_payloads as p
from tests.fakes.discord import INTENT_MESSAGE_CONTENT, FakeDiscord, fast_bot_options, running_bot

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image body" * 10


class AgainView(discord.ui.View):
    """A persistent view: fixed custom_id, no timeout, so it matches after a restart."""

    def __init__(self) -> None:
        super().__init__(timeout=None)

    @discord.ui.button(label="Again", custom_id="tiny:again")
    async def again(
        self, interaction: discord.Interaction, button: discord.ui.Button[AgainView]
    ) -> None:
        await interaction.response.send_message(f"again by {interaction.user.id}", ephemeral=True)


class DescribeModal(discord.ui.Modal, title="Describe the image"):
    what: discord.ui.TextInput[DescribeModal] = discord.ui.TextInput(
        label="What should change?", max_length=200
    )

    def __init__(self, target: discord.Message) -> None:
        super().__init__()
        self.target = target

    async def on_submit(self, interaction: discord.Interaction) -> None:
        names = ",".join(a.filename for a in self.target.attachments)
        await interaction.response.send_message(f"{self.what.value} -> {self.target.id} [{names}]")


class TinyBot(commands.Bot):
    """A slash command with an attachment, a guarded group, a context menu, modal, button."""

    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            command_prefix=commands.when_mentioned, intents=intents, **fast_bot_options()
        )
        self.errors: asyncio.Queue[BaseException] = asyncio.Queue()

    async def setup_hook(self) -> None:
        self.add_view(AgainView())
        self.tree.add_command(shrink)
        self.tree.add_command(ping)
        self.tree.add_command(config)
        self.tree.add_command(app_commands.ContextMenu(name="Describe", callback=describe))
        self.tree.error(self.on_tree_error)
        await self.tree.sync()

    async def on_tree_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await self.errors.put(getattr(error, "original", error))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user not in message.mentions or message.reference is None:
            return
        source = message.reference.resolved
        assert isinstance(source, discord.Message)
        data = await source.attachments[0].read()
        await message.reply(f"edited {len(data)} bytes", file=discord.File(_mark(data), "edit.png"))


def _mark(data: bytes) -> io.BytesIO:
    return io.BytesIO(b"EDITED:" + data)


@app_commands.command()
@app_commands.describe(image="The picture", caption="Words", times="How often")
async def shrink(
    interaction: discord.Interaction, image: discord.Attachment, caption: str = "", times: int = 1
) -> None:
    """Shrink a picture."""
    await interaction.response.defer(thinking=True)
    data = await image.read()
    await interaction.edit_original_response(
        content=f"{caption} x{times}",
        attachments=[discord.File(_mark(data), "out.png")],
        view=AgainView(),
    )


@app_commands.command()
async def ping(interaction: discord.Interaction) -> None:
    """Answer with a follow-up."""
    await interaction.response.defer()
    await interaction.followup.send("pong")


config = app_commands.Group(
    name="config",
    description="Server settings",
    default_permissions=discord.Permissions(manage_guild=True),
)


@config.command(name="model")
async def config_model(interaction: discord.Interaction, name: str) -> None:
    """Set the model."""
    await interaction.response.send_message(f"model={name}", ephemeral=True)


@config_model.autocomplete("name")
async def model_names(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    return [
        app_commands.Choice(name=n, value=n)
        for n in ("flash", "pro", "flash-lite")
        if n.startswith(current)
    ]


async def describe(interaction: discord.Interaction, message: discord.Message) -> None:
    await interaction.response.send_modal(DescribeModal(message))


@pytest.fixture
async def tiny(fake_discord: FakeDiscord) -> AsyncIterator[TinyBot]:
    bot = TinyBot()
    async with running_bot(bot, fake_discord):
        yield bot


# --- a real bot against the fake ----------------------------------------------------------------


async def test_login_ready_and_command_sync(fake_discord: FakeDiscord, tiny: TinyBot) -> None:
    assert tiny.user is not None and str(tiny.user.id) == fake_discord.bot_user["id"]
    assert [g.id for g in tiny.guilds] == [int(fake_discord.guild["id"])]
    assert fake_discord.identifies[0]["intents"] & INTENT_MESSAGE_CONTENT
    sync = fake_discord.find("PUT /applications/*/commands")
    assert len(sync) == 1 and sync[0].headers["Authorization"] == f"Bot {fake_discord.token}"
    names = {(c["name"], c["type"]) for c in fake_discord.global_commands}
    assert names == {("shrink", 1), ("ping", 1), ("config", 1), ("Describe", 3)}
    assert fake_discord.command("Describe", 3)["description"] == ""
    assert fake_discord.command("config")["default_member_permissions"] == str(
        discord.Permissions(manage_guild=True).value
    )
    shrink_opts = {o["name"]: o for o in fake_discord.command("shrink")["options"]}
    assert shrink_opts["image"]["type"] == p.ATTACHMENT and shrink_opts["image"]["required"]


async def test_slash_defer_then_edit_original_with_file(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    it = await fake_discord.slash(
        "shrink", {"image": ("cat.png", PNG), "caption": "hi", "times": 3}
    )
    state = await fake_discord.interaction_result(it)

    assert state.callback_type == 5 and state.callback is not None
    assert state.callback.query["with_response"] == "1"
    cdn = await fake_discord.wait_for("GET /cdn/attachments/*/cat.png")
    assert cdn.status == 200
    edit = await fake_discord.wait_for("PATCH /webhooks/*/messages/@original")
    assert "Authorization" not in edit.headers
    assert edit.json["content"] == "hi x3"
    assert [(f.field, f.filename, f.data) for f in edit.files] == [
        ("files[0]", "out.png", b"EDITED:" + PNG)
    ]
    assert state.original is not None and not state.original.loading
    assert state.original.files == [("out.png", b"EDITED:" + PNG)]
    assert state.original.custom_ids() == ["tiny:again"]


async def test_subcommand_and_ephemeral_reply(fake_discord: FakeDiscord, tiny: TinyBot) -> None:
    admin = await fake_discord.member(discord.Permissions(manage_guild=True))
    state = await fake_discord.interaction_result(
        await fake_discord.slash("config model", {"name": "flash"}, member=admin)
    )
    assert state.callback_type == 4 and state.original is not None
    assert state.original.content == "model=flash" and state.original.ephemeral
    with pytest.raises(ValueError, match="missing"):
        await fake_discord.slash("config model", {})
    with pytest.raises(LookupError):
        await fake_discord.slash("nonexistent")


async def test_context_menu_opens_modal_and_submit_replies(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    target = await fake_discord.post_message("look", images=[("dog.png", PNG)])
    opened = await fake_discord.interaction_result(
        await fake_discord.context_menu("Describe", target)
    )
    assert opened.callback_type == 9 and opened.modal is not None
    assert opened.modal["title"] == "Describe the image"

    submitted = await fake_discord.submit_modal(
        opened, {opened.modal["components"][0]["components"][0]["custom_id"]: "bluer"}
    )
    assert submitted.payload["data"]["custom_id"] == opened.modal["custom_id"]
    # The submitter's client language: the opener's unless told (the same member's client).
    assert submitted.payload["locale"] == opened.payload["locale"] == "en-US"
    state = await fake_discord.interaction_result(submitted)
    assert (
        state.original is not None and state.original.content == f"bluer -> {target.id} [dog.png]"
    )


async def test_a_form_can_be_submitted_from_another_client_language(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    target = await fake_discord.post_message("look", images=[("dog.png", PNG)])
    opened = await fake_discord.interaction_result(
        await fake_discord.context_menu("Describe", target)
    )
    assert opened.modal is not None
    field = opened.modal["components"][0]["components"][0]["custom_id"]
    submitted = await fake_discord.submit_modal(opened, {field: "bluer"}, locale="ja")
    assert submitted.payload["locale"] == "ja"


async def test_persistent_button_on_a_bot_message(fake_discord: FakeDiscord, tiny: TinyBot) -> None:
    done = await fake_discord.interaction_result(await fake_discord.slash("shrink", {"image": PNG}))
    assert done.original is not None
    clicker = await fake_discord.member(name="clicker")
    state = await fake_discord.interaction_result(
        await fake_discord.click(done.original, "tiny:again", member=clicker)
    )
    assert (
        state.original is not None and state.original.content == f"again by {clicker['user']['id']}"
    )
    with pytest.raises(ValueError, match="no component"):
        await fake_discord.click(done.original, "tiny:nope")


async def test_reply_to_user_image_then_to_bot_result(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    source = await fake_discord.post_message("here", images=[("in.png", PNG)])
    ask = await fake_discord.post_message("make it red", reply_to=source, mention_bot=True)
    sent = await fake_discord.wait_for("POST /channels/*/messages")
    assert sent.status == 200
    assert str(sent.json["message_reference"]["message_id"]) == ask.id
    assert sent.files[0].data == b"EDITED:" + PNG
    bot_message = fake_discord.messages[sent.response["id"]]
    assert bot_message.payload["referenced_message"]["id"] == ask.id

    # The bot's own upload is a real CDN URL: replying to it makes the bot download it.
    await fake_discord.post_message("again", reply_to=bot_message, mention_bot=True)
    second = await fake_discord.wait_for("POST /channels/*/messages")
    assert second.files[0].data == b"EDITED:EDITED:" + PNG


async def test_follow_up_rate_limited_with_via_is_retried(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    fault = fake_discord.rate_limit("POST /webhooks/*", retry_after=0.01)
    state = await fake_discord.interaction_result(await fake_discord.slash("ping"))
    first = await fake_discord.wait_for("POST /webhooks/*")
    retry = await fake_discord.wait_for("POST /webhooks/*")
    assert (first.status, retry.status) == (429, 200) and fault.remaining == 0
    assert state.original is not None and state.original.content == "pong"


async def test_unknown_interaction_surfaces_as_not_found(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    fake_discord.unknown_interaction()
    await fake_discord.slash("ping")
    error = await asyncio.wait_for(tiny.errors.get(), timeout=30)
    assert isinstance(error, discord.NotFound) and error.code == 10062


async def test_dropped_websocket_resumes_and_replays(
    fake_discord: FakeDiscord, tiny: TinyBot
) -> None:
    seen_before = len(fake_discord.gateway_frames)
    await fake_discord.drop_websocket()
    it = await fake_discord.slash("ping")  # sent while disconnected: replayed on RESUME
    resume = await fake_discord.wait_for_gateway(6, after=seen_before)
    assert resume["d"]["session_id"] and resume["d"]["seq"] >= 2
    await fake_discord.wait_until(lambda: fake_discord.resume_count == 1, what="RESUMED")
    state = await fake_discord.interaction_result(it)
    assert state.original is not None and state.original.content == "pong"
    assert len(fake_discord.identifies) == 1


async def test_autocomplete_choices_are_recorded(fake_discord: FakeDiscord, tiny: TinyBot) -> None:
    it = await fake_discord.autocomplete("config model", {"name": "fl"}, focused="name")
    state = await fake_discord.interaction_result(it)
    assert state.callback_type == 8
    assert state.choices == [
        {"name": "flash", "value": "flash"},
        {"name": "flash-lite", "value": "flash-lite"},
    ]


async def test_server_error_on_edit_is_retried(fake_discord: FakeDiscord, tiny: TinyBot) -> None:
    fault = fake_discord.server_error("PATCH /webhooks/*/messages/@original")
    state = await fake_discord.interaction_result(
        await fake_discord.slash("shrink", {"image": PNG})
    )
    assert fault.remaining == 0
    assert [r.status for r in fake_discord.find("PATCH /webhooks/*")] == [500, 200]
    assert state.original is not None and state.original.files == [("out.png", b"EDITED:" + PNG)]


async def test_without_message_content_intent_only_mentions_carry_content(
    fake_discord: FakeDiscord,
) -> None:
    seen: asyncio.Queue[discord.Message] = asyncio.Queue()
    client = discord.Client(intents=discord.Intents.default(), **fast_bot_options())

    @client.event
    async def on_message(message: discord.Message) -> None:
        await seen.put(message)

    async with running_bot(client, fake_discord):
        await fake_discord.post_message("hidden", images=[PNG])
        await fake_discord.post_message("shown", images=[PNG], mention_bot=True)
        hidden, shown = (
            await asyncio.wait_for(seen.get(), 30),
            await asyncio.wait_for(seen.get(), 30),
        )
        assert (hidden.content, hidden.attachments) == ("", [])
        assert shown.content.endswith("shown") and await shown.attachments[0].read() == PNG
