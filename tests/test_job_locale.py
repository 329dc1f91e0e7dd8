"""A job speaks its requester's language while it runs (``JobSpec.locale``), not the caller's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import BotSettings, ImageSettings
from bot.i18n import current_locale, speaking
from bot.jobs import JobRunner, JobSpec
from bot.services import open_services
from bot.storage.base import GuildSettings
from bot.workers import CpuPool
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes

KEY = "sk-job-locale-0123456789"


@pytest.mark.parametrize(("locale", "expected"), [("ja", "ja"), ("pt-PT", "pt-BR"), (None, "de")])
async def test_a_job_publishes_in_its_requesters_locale(tmp_path: Path, locale, expected) -> None:
    async with FakeGateway(api_key=KEY) as gateway:
        gateway.script(Reply(body=images_response([png_bytes(16, 16)])))
        settings = BotSettings(
            token="",
            secret_key="",
            database_url=f"sqlite:///{tmp_path / 'bot.db'}",
            image=ImageSettings(base_url=gateway.base_url, api_key=KEY),
        )
        spec = JobSpec(
            kind="imagine", guild_id=1, channel_id=2, user_id=3, prompt="a cat", locale=locale
        )
        seen: list[str] = []

        async def publish(outcome) -> None:
            seen.append(current_locale())

        async with CpuPool(inline=True) as cpu, open_services(settings, cpu=cpu) as services:
            # The caller's locale (a German admin's button press, say): a job without a
            # locale of its own (the CLI's) keeps it; the caller's is back afterwards.
            with speaking("de"):
                async with JobRunner(services).admit(spec, GuildSettings(guild_id=1)) as job:
                    outcome = await job.run(publish)
                after = current_locale()
    assert outcome.job.state == "done"
    assert seen == [expected]
    assert after == "de"
