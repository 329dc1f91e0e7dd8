"""A session with a server's own key shows no secret; usage comes from the gateway's figures."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import discord
import pytest

from bot.secrets import SecretRedactingFilter
from bot.workers import CpuPool
from tests.fakes.discord import FakeDiscord, redirect_discord
from tests.fakes.gateway import FakeGateway, Reply, images_response, openai_error, png_bytes
from tests.harness import GATEWAY_KEY, SECRET_KEY, BotHarness, make_settings
from tests.settings.conftest import answer_text

# Shaped like no known credential, so only not logging it keeps it out of the log:
# the filter here is told only the operator's secrets, not the server's key.
GUILD_KEY = "gw.Zq8cV1xT0pL3mN7rW2yBq4Hs"
IMAGE = png_bytes(14, 14, (140, 70, 10))
OTHER = png_bytes(14, 14, (10, 70, 140))
ADMIN = discord.Permissions(manage_guild=True)


class Captured(logging.Handler):
    """What a log file would hold: formatted records after the operator's secret filter."""

    def __init__(self, known: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s"))
        self.addFilter(SecretRedactingFilter(lambda: known))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
async def session(
    tmp_path: Path, cpu_pool: CpuPool
) -> AsyncIterator[tuple[BotHarness, FakeGateway]]:
    async with (
        FakeDiscord.running() as fake,
        FakeGateway(api_key=GATEWAY_KEY) as gw,
        FakeGateway(api_key=GUILD_KEY) as guild_gw,
    ):
        with redirect_discord(fake):
            settings = make_settings(fake, gw, tmp_path / "bot.db")
            # The fake gateways listen on 127.0.0.1, which a server's URL may not be by default.
            settings = replace(settings, image=replace(settings.image, allow_private_gateways=True))
            h = BotHarness(fake, gw, settings, cpu_pool)
            await h.start()
            try:
                yield h, guild_gw
            finally:
                await h.stop()


async def _set_guild_gateway(h: BotHarness, guild_gw: FakeGateway, admin: dict) -> None:
    opened = await h.fake.interaction_result(
        await h.fake.slash(
            "settings gateway", {"url": guild_gw.base_url, "dialect": "flat"}, member=admin
        )
    )
    (field_id,) = [
        c["custom_id"]
        for row in opened.modal["components"]
        for c in row.get("components", [row.get("component")])
    ]
    saved = await h.fake.interaction_result(
        await h.fake.submit_modal(opened, {field_id: GUILD_KEY}, member=admin)
    )
    assert GUILD_KEY not in answer_text(saved)


async def test_a_full_session_with_a_guild_key_leaks_no_secret(
    session: tuple[BotHarness, FakeGateway],
) -> None:
    h, guild_gw = session
    s = h.settings
    secrets = {
        "guild key": GUILD_KEY,
        "IMAGE_API_KEY": s.image.api_key,
        "DISCORD_TOKEN": s.token,
        "SECRET_KEY": SECRET_KEY,
    }
    capture = Captured([s.token, s.secret_key, s.image.api_key])  # what cli.py passes
    root = logging.getLogger()
    level = root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        admin = await h.fake.member(ADMIN, name="admin")
        member = await h.fake.member(name="member")
        await _set_guild_gateway(h, guild_gw, admin)

        guild_gw.script(
            Reply(body=images_response([IMAGE])),
            # error answers that echo the key back, as some gateways do
            Reply(status=401, body=openai_error(f"Incorrect API key provided: {GUILD_KEY}")),
            *[Reply(status=500, body=f"upstream said: key={GUILD_KEY} failed")] * 3,
        )
        made = await h.result(await h.fake.slash("imagine", {"prompt": "a fox"}, member=member))
        assert made.original.files[0][1] == IMAGE
        bad = await h.result(await h.fake.slash("imagine", {"prompt": "again"}, member=member))
        assert "/settings gateway" in bad.last_message.content
        down = await h.result(
            await h.fake.slash("imagine", {"prompt": "once more"}, member=member), wait=30
        )
        assert "down or overloaded" in down.last_message.content
        shown = answer_text(
            await h.fake.interaction_result(await h.fake.slash("settings show", member=admin))
        )
        assert "set (encrypted)" in shown
        auto = await h.fake.autocomplete("settings model", {"name": ""}, "name", member=admin)
        await h.fake.wait_until(lambda: auto.choices is not None, what="model choices")
    finally:
        root.removeHandler(capture)
        root.setLevel(level)

    # the key did its work upstream...
    generations = [r for r in guild_gw.requests if r.method == "POST"]
    assert len(generations) == 5
    assert all(r.headers["authorization"] == f"Bearer {GUILD_KEY}" for r in guild_gw.requests)
    assert h.gw.requests == []  # the operator's gateway was never used
    # ...and went nowhere else.
    assert len(capture.lines) > 50  # DEBUG really was on: discord.py, httpx, the bot
    log_text = "\n".join(capture.lines)
    sent = [
        repr((r.json, r.body, r.query)) + "".join(f.data.decode("latin-1") for f in r.files)
        for r in h.fake.requests
    ]
    shown_to_members = [m.content + repr(m.payload.get("embeds")) for m in h.fake.messages.values()]
    for name, secret in secrets.items():
        assert secret not in log_text, f"{name} in the log"
        assert not [x for x in sent if secret in x], f"{name} sent to Discord"
        assert not [x for x in shown_to_members if secret in x], f"{name} shown in Discord"
        assert secret not in repr([j.result for j in await _jobs(h)]), f"{name} in a job row"


async def _jobs(h: BotHarness) -> list:
    jobs = []
    job_id = 1
    while (job := await h.store.get_job(job_id)) is not None:
        jobs.append(job)
        job_id += 1
    return jobs


async def test_settings_usage_shows_images_and_tokens_from_the_gateway(
    session: tuple[BotHarness, FakeGateway],
) -> None:
    h, _ = session
    admin = await h.fake.member(ADMIN, name="admin")
    alice = await h.fake.member(name="alice")
    bob = await h.fake.member(name="bob")
    h.gw.script(
        Reply(body=images_response([IMAGE, OTHER], usage={"total_tokens": 1310})),
        Reply(body=images_response([IMAGE], usage={"total_tokens": 1310})),
        # no total: the parts are added
        Reply(body=images_response([IMAGE], usage={"prompt_tokens": 20, "completion_tokens": 90})),
        Reply(body=images_response([], "I can't draw that.", usage={"total_tokens": 50})),
    )
    for who, prompt in ((alice, "one"), (alice, "two"), (bob, "three"), (bob, "refused")):
        await h.result(await h.fake.slash("imagine", {"prompt": prompt}, member=who))

    text = answer_text(
        await h.fake.interaction_result(
            await h.fake.slash("settings usage", {"period": "day"}, member=admin)
        )
    )
    assert f"<@{alice['user']['id']}>: 3 images, 2 jobs, 2,620 tokens" in text
    assert f"<@{bob['user']['id']}>: 1 image, 1 job, 110 tokens" in text
    assert "Total: 4 images" in text
