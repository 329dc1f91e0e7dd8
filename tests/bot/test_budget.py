"""Costs in money, end to end: the monthly budget at its boundary and across a restart, the
estimate on the progress message, what a job cost, and the money /settings and /me show."""

from __future__ import annotations

import asyncio

import discord
import pytest

import bot.discord_bot.delivery
from bot.costs import parse_prices
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import PRO_MODEL, BotHarness

IMAGE = png_bytes(16, 16, (9, 9, 9))
# Round prices, so the boundary is plain: $0.20 a 1K image, $0.24 a 4K one.
PRICES = parse_prices({"models": {PRO_MODEL: {"image": {"1K": 0.20, "4K": 0.24}}}})
REFUSED_4K = (
    "This would cost about $0.24, and this server has $0.20 left of its $1.00 budget for "
    "this month. Try a smaller size or fewer images, or ask an admin to raise the budget."
)
USED_UP = (
    "This server has used its $1.00 budget for this month. Try again next month, or ask "
    "an admin to raise it."
)


async def _answer(
    h: BotHarness, name: str, options: dict[str, object], member: dict | None = None
) -> str:
    st = await h.fake.interaction_result(await h.fake.slash(name, options, member=member))
    assert st.original.ephemeral
    return st.original.content


async def _spent(h: BotHarness, amount: float) -> None:
    await h.restart(prices=PRICES)
    await h.store.update_settings(h.guild_id, monthly_budget=1.00)
    await h.store.record_usage(guild_id=h.guild_id, user_id=5, images=4, tokens=0, cost=amount)


async def test_the_job_that_would_pass_the_budget_is_refused_before_the_gateway(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await _spent(h, 0.80)
    assert await _answer(h, "imagine", {"prompt": "a huge cat", "size": "4K"}) == REFUSED_4K
    assert h.gw.requests == []  # nothing went upstream
    assert await h.store.list_jobs(guild_id=h.guild_id) == []  # nor was a job written

    h.gw.script(Reply(body=images_response([IMAGE])))
    st = await h.result(await h.fake.slash("imagine", {"prompt": "a small cat"}))
    assert st.original.files[0][1] == IMAGE  # $0.80 + $0.20 lands on the budget: allowed
    [job] = await h.store.list_jobs(guild_id=h.guild_id)
    assert job.cost == 0.20
    assert await h.store.spend(guild_id=h.guild_id, since=0) == 1.00
    assert await _answer(h, "imagine", {"prompt": "one more"}) == USED_UP
    assert len(h.gw.requests) == 1


async def test_the_budget_holds_across_a_restart(running_bot: BotHarness) -> None:
    h = running_bot
    await _spent(h, 0.80)
    await h.restart()  # the spend is the database's, not the process's
    assert await _answer(h, "imagine", {"prompt": "a huge cat", "size": "4K"}) == REFUSED_4K
    assert h.gw.requests == []


async def test_count_n_is_estimated_as_n_images(running_bot: BotHarness) -> None:
    h = running_bot
    await _spent(h, 0.70)
    refused = await _answer(h, "imagine", {"prompt": "cats", "count": 2})
    assert refused.startswith("This would cost about $0.40, and this server has $0.30 left")
    assert h.gw.requests == []


async def test_an_expensive_job_shows_its_estimate_while_it_runs(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    monkeypatch.setattr(bot.discord_bot.delivery, "PROGRESS_INTERVAL", 3600)  # only the first
    hold = asyncio.Event()
    h.gw.script(Reply(body=images_response([IMAGE]), hold=hold))
    it = await h.fake.slash("imagine", {"prompt": "a huge cat", "size": "4K"})
    edit = await h.fake.wait_for(
        lambda r: r.method == "PATCH" and it.token in r.path and r.path.endswith("/@original")
    )
    assert edit.json["content"] == "Generating… 0 s\n-# Estimated cost: about $0.24"
    hold.set()
    await h.result(it)
    [job] = await h.store.list_jobs(guild_id=h.guild_id)
    assert job.cost == 0.24  # no tokens reported: the 4K image's price


async def test_a_cheap_job_shows_no_estimate(
    running_bot: BotHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    h = running_bot
    monkeypatch.setattr(bot.discord_bot.delivery, "PROGRESS_INTERVAL", 0.05)
    h.gw.script(Reply(body=images_response([IMAGE]), delay=0.5))
    it = await h.fake.slash("imagine", {"prompt": "a cat"})
    edit = await h.fake.wait_for(
        lambda r: r.method == "PATCH" and it.token in r.path and r.path.endswith("/@original")
    )
    assert "Estimated" not in edit.json["content"]
    await h.result(it)


async def test_reported_tokens_are_priced_else_each_image(running_bot: BotHarness) -> None:
    h = running_bot
    tokens = {"prompt_tokens": 1000, "completion_tokens": 2000, "total_tokens": 3000}
    h.gw.script(
        Reply(body=images_response([IMAGE], usage=tokens)),
        Reply(body=images_response([IMAGE], usage={"total_tokens": 1290})),
    )
    me = await h.fake.member(name="counted")
    for prompt in ("by tokens", "by the image"):
        await h.result(await h.fake.slash("imagine", {"prompt": prompt, "size": "4K"}, member=me))
    by_tokens, by_image = await h.store.list_jobs(guild_id=h.guild_id)
    assert by_tokens.cost == 0.242  # 1000 x $2 + 2000 x $120 per million (Pro's prices)
    assert by_image.cost == 0.24  # a total alone: Pro's 4K image
    [row] = await h.store.usage_summary(h.guild_id, 0)
    assert (row.images, row.tokens, row.cost) == (2, 4290, 0.482)


async def test_settings_budget_sets_shows_and_turns_off(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.record_usage(guild_id=h.guild_id, user_id=5, images=3, tokens=0, cost=0.402)
    assert await _admin(h, "budget", {"amount": "$25"}) == (
        "Budget updated. Monthly budget: $25.00 (calendar month, UTC). Spent this month: "
        "$0.40, $24.60 left."
    )
    assert (await h.store.get_settings(h.guild_id)).monthly_budget == 25.0
    assert await _admin(h, "budget", {}) == (
        "Monthly budget: $25.00 (calendar month, UTC). Spent this month: $0.40, $24.60 left."
    )
    assert await _admin(h, "budget", {"amount": "lots"}) == (
        "Give the budget in dollars, from 0 to 100,000 (like `25` or `12.50`), or `off` for "
        "no budget."
    )
    assert await _admin(h, "budget", {"amount": "off"}) == (
        "Budget updated. No monthly budget: jobs are not refused for cost. Spent this month "
        "(UTC): $0.40."
    )
    assert (await h.store.get_settings(h.guild_id)).monthly_budget is None


async def test_settings_usage_and_me_show_money(running_bot: BotHarness) -> None:
    h = running_bot
    h.gw.script(Reply(body=images_response([IMAGE])), Reply(body=images_response([IMAGE])))
    member = await h.fake.member(name="spender")
    for prompt, size in (("a cat", "4K"), ("a dog", "2K")):
        it = await h.fake.slash("imagine", {"prompt": prompt, "size": size}, member=member)
        await h.result(it)
    me = await _answer(h, "me", {}, member)
    assert me.startswith(
        "**Your images in this server**\nToday (UTC): 2 images, 0 tokens, $0.37\n"
        "The last 7 days: 2 images, 0 tokens, $0.37\n"
    )
    usage = await _admin(h, "usage", {"period": "day"})
    [job] = await h.store.list_jobs(guild_id=h.guild_id, limit=1)
    assert usage.splitlines()[1:] == [
        f"1. <@{job.user_id}>: 2 images, 2 jobs, 0 tokens, $0.37",
        "Total: 2 images, 2 jobs, 0 tokens, $0.37 by 1 member.",
    ]


async def _admin(h: BotHarness, sub: str, options: dict[str, object]) -> str:
    admin = await h.fake.member(discord.Permissions(manage_guild=True), name="admin")
    it = await h.fake.slash(f"settings {sub}", options, member=admin)
    st = await h.fake.interaction_result(it)
    assert st.original.ephemeral
    return st.original.content


async def test_a_waiting_job_shows_its_place_and_estimate_and_counts_toward_the_budget(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await _spent(h, 0.30)
    await h.store.update_settings(h.guild_id, guild_concurrency=1)
    holds = [asyncio.Event(), asyncio.Event()]
    h.gw.script(*(Reply(body=images_response([IMAGE]), hold=e) for e in holds))
    big = {"prompt": "a huge cat", "size": "4K"}
    first = await h.fake.slash("imagine", big, member=await h.fake.member(name="a"))
    await h.gw.wait_for_requests(1)
    waiting = await h.fake.slash("imagine", big, member=await h.fake.member(name="b"))
    edit = await h.fake.wait_for(
        lambda r: (
            r.method == "PATCH"
            and waiting.token in r.path
            and isinstance(r.json, dict)
            and "1st in line" in (r.json.get("content") or "")
        )
    )
    # The place, the estimate under it and the Cancel button, all in the first edit.
    assert edit.json["content"].startswith("Generating… 1st in line")
    assert edit.json["content"].endswith("\n-# Estimated cost: about $0.24")
    [row] = edit.json["components"]
    assert [b["label"] for b in row["components"]] == ["Cancel"]
    # $0.30 spent, $0.24 running and $0.24 in line: a third $0.24 job would pass $1.00,
    # and is refused at once rather than put in line.
    third = await _answer(h, "imagine", big, member=await h.fake.member(name="c"))
    assert third == (
        "This would cost about $0.24, and this server has $0.22 left of its $1.00 budget for "
        "this month. Try a smaller size or fewer images, or ask an admin to raise the budget."
    )
    for hold, it in zip(holds, (first, waiting), strict=True):
        hold.set()
        await h.result(it)
    assert len(h.gw.requests) == 2
    assert [j.cost for j in await h.store.list_jobs(guild_id=h.guild_id)] == [0.24, 0.24]
    assert await h.store.spend(guild_id=h.guild_id, since=0) == pytest.approx(0.78)
