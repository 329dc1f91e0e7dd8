"""A result is posted exactly once, even when Discord applies an upload and answers it badly.

The fake applies the request and then answers 502 (or nothing at all), as a proxy in
front of Discord can; discord.py retries each 5xx five times. The member must see the
one result and no error, and the channel must hold exactly one message with it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import discord
import pytest

from bot.discord_bot import delivery
from bot.discord_bot.errors import GENERIC_FAILURE
from bot.i18n import render
from tests.fakes.discord import RecordedRequest
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(24, 24, (5, 100, 200))
_sleep = asyncio.sleep


class _InstantBackoff:
    """``asyncio`` as discord.py's HTTP modules see it, their 5xx backoff (25 s) cut to 0."""

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    @staticmethod
    async def sleep(delay: float, result: Any = None) -> Any:
        return await _sleep(0, result)


@pytest.fixture
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(discord.webhook.async_, "asyncio", _InstantBackoff())
    monkeypatch.setattr(discord.http, "asyncio", _InstantBackoff())
    yield


def result_upload(r: RecordedRequest) -> bool:
    """An edit of the original response that carries files (not a progress edit)."""
    return r.method == "PATCH" and r.path.endswith("/messages/@original") and bool(r.files)


def results_in_channel(h: BotHarness) -> list[Any]:
    """Every message in the fake that shows job 1's result."""
    return [
        m
        for m in h.fake.messages.values()
        if any(a["filename"].startswith("imagine-1-") for a in m.attachments)
    ]


async def jobs_done(h: BotHarness) -> None:
    """Until the job's delivery has finished (its slot is given back after publishing)."""
    assert h.bot is not None
    while h.bot.runtime.admissions.in_flight():
        await _sleep(0.02)
    await h.stored()


def no_error_shown(h: BotHarness) -> None:
    assert not [m for m in h.fake.messages.values() if render(GENERIC_FAILURE) in m.content]


async def test_an_edit_applied_then_answered_502_on_every_retry_is_posted_once(
    running_bot: BotHarness, instant_retries: None
) -> None:
    h = running_bot
    h.fake.server_error(result_upload, status=502, times=100, after_applying=True)
    h.gw.script(Reply(body=images_response([IMAGE])))
    it = await h.fake.slash("imagine", {"prompt": "a cat"})
    st = await h.result(it)
    await jobs_done(h)

    uploads = h.fake.find(result_upload)
    assert [r.status for r in uploads] == [502] * 5  # discord.py's five tries, each applied
    assert all(r.applied is not None and r.applied[0] == 200 for r in uploads)
    (check,) = h.fake.find(f"GET /webhooks/*/{it.token}/messages/@original")
    assert check.status == 200
    assert not h.fake.find("POST /channels/*/messages")
    (shown,) = results_in_channel(h)
    assert shown is st.original and shown.files == [("imagine-1-1.png", IMAGE)]
    assert st.original.content.startswith("**Imagine** · a cat")
    assert not st.followups
    no_error_shown(h)
    assert (await h.store.get_job(1)).message_id == int(st.original.id)


async def test_an_edit_applied_whose_answer_never_comes_is_posted_once(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    monkeypatch.setattr(delivery, "UPLOAD_TIMEOUT", 0.5)
    h.fake.hang_after_applying(result_upload)
    h.gw.script(Reply(body=images_response([IMAGE])))
    it = await h.fake.slash("imagine", {"prompt": "a cat"})
    st = await h.result(it)
    await jobs_done(h)

    (upload,) = h.fake.find(result_upload)
    assert upload.status == 0  # never answered (until the fake closes)
    assert upload.applied is not None and upload.applied[0] == 200
    assert h.fake.find(f"GET /webhooks/*/{it.token}/messages/@original")
    assert not h.fake.find("POST /channels/*/messages")
    (shown,) = results_in_channel(h)
    assert shown is st.original
    no_error_shown(h)


async def test_an_edit_that_never_lands_goes_to_the_channel_once_despite_502s_there(
    running_bot: BotHarness, instant_retries: None
) -> None:
    h = running_bot
    member = await h.fake.member(name="asker")
    h.fake.server_error(result_upload, status=502, times=100)  # refused, never applied
    # The channel post lands on the first try, and every one of discord.py's tries gets a
    # 502; our own try after them carries the same nonce, and Discord returns the first.
    h.fake.server_error("POST /channels/*/messages", status=502, times=5, after_applying=True)
    h.gw.script(Reply(body=images_response([IMAGE])))
    it = await h.fake.slash("imagine", {"prompt": "a cat"}, member=member)
    await h.fake.wait_for("POST /channels/*/messages", status=200, timeout=15)
    await jobs_done(h)

    assert [r.status for r in h.fake.find(result_upload)] == [502] * 10  # two tries of five
    assert len(h.fake.find(f"GET /webhooks/*/{it.token}/messages/@original")) == 2
    posts = h.fake.find("POST /channels/*/messages")
    assert [r.status for r in posts] == [502] * 5 + [200]
    assert len({r.json["nonce"] for r in posts}) == 1
    assert all(r.json["enforce_nonce"] is True for r in posts)
    (shown,) = results_in_channel(h)
    assert shown.content.startswith(f"<@{member['user']['id']}> **Imagine** · a cat")
    assert shown.files == [("imagine-1-1.png", IMAGE)]
    no_error_shown(h)
    assert (await h.store.get_job(1)).message_id == int(shown.id)
