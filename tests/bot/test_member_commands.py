"""/preferences and /me, end to end: the exact private answers, and what reached the gateway."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bot.i18n import render
from bot.jobs import JobSpec
from bot.jobs.preferences import apply_preferences
from bot.storage.base import MemberPreferences
from cogs.member.render import NO_PREFERENCES, PREFERENCES_CLEARED
from tests.fakes.discord import InteractionState
from tests.fakes.gateway import Reply, images_response, png_bytes
from tests.harness import BotHarness

IMAGE = png_bytes(16, 16, (9, 9, 9))
RULE = "(They apply in every server, under the options you give a command.)"


async def _private_answer(h: BotHarness, it: InteractionState) -> str:
    st = await h.fake.interaction_result(it)
    assert st.callback_type == 4 and st.original.ephemeral
    return st.original.content


async def test_preferences_apply_over_the_server_default_and_under_the_options_given(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="picky")
    await h.store.update_settings(h.guild_id, aspect_ratio="4:3")
    assert await _private_answer(h, await h.fake.slash("preferences", member=me)) == render(
        NO_PREFERENCES
    )

    saved = await h.fake.slash(
        "preferences",
        {"aspect_ratio": "16:9", "size": "2K", "count": 3, "private": True},
        member=me,
    )
    assert await _private_answer(h, saved) == "\n".join(
        [
            f"**Saved. Your preferences** {RULE}",
            "Aspect ratio: `16:9`",
            "Size: `2K`",
            "Model: the server's default",
            "Images per job: `3`",
            "Private results: `yes`",
        ]
    )
    assert await h.store.get_preferences(int(me["user"]["id"])) == MemberPreferences(
        user_id=int(me["user"]["id"]), aspect_ratio="16:9", image_size="2K", count=3, private=True
    )

    # Three images at once must fit the member's in-flight limit (count: is refused above it).
    await h.store.update_settings(h.guild_id, user_concurrency=3)
    h.gw.script(*[Reply(body=images_response([IMAGE])) for _ in range(7)])
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, member=me))
    configs = [r.json["image_config"] for r in h.gw.requests]
    assert configs == [{"aspect_ratio": "16:9", "image_size": "2K"}] * 3  # count: 3 applied
    # An option given in the command wins over the preference.
    await h.result(
        await h.fake.slash(
            "imagine", {"prompt": "a dog", "aspect_ratio": "1:1", "count": 1}, member=me
        )
    )
    assert len(h.gw.requests) == 4
    assert h.gw.requests[3].json["image_config"] == {"aspect_ratio": "1:1", "image_size": "2K"}
    # Another member has none: the server's default.
    await h.result(await h.fake.slash("imagine", {"prompt": "a cow"}))
    assert len(h.gw.requests) == 5
    assert h.gw.requests[4].json["image_config"] == {"aspect_ratio": "4:3"}

    # With no option, shown again; reset clears them all.
    shown = await _private_answer(h, await h.fake.slash("preferences", member=me))
    assert shown.startswith(f"**Your preferences** {RULE}\nAspect ratio: `16:9`")
    cleared = await h.fake.slash("preferences", {"reset": True}, member=me)
    assert await _private_answer(h, cleared) == render(PREFERENCES_CLEARED)
    assert (await h.store.get_preferences(int(me["user"]["id"]))).empty
    await h.result(await h.fake.slash("imagine", {"prompt": "a bird"}, member=me))
    assert h.gw.requests[5].json["image_config"] == {"aspect_ratio": "4:3"}


async def test_a_single_preference_goes_back_to_the_servers_default(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="picky")
    await h.fake.interaction_result(
        await h.fake.slash(
            "preferences", {"size": "4K", "model": "gemini-3-pro-image-preview"}, member=me
        )
    )
    answer = await _private_answer(
        h, await h.fake.slash("preferences", {"size": "default", "model": "default"}, member=me)
    )
    assert answer == render(PREFERENCES_CLEARED)  # nothing is left set


def test_count_and_private_follow_the_same_precedence_and_the_servers_maximum() -> None:
    spec = JobSpec(kind="imagine", guild_id=1, channel_id=2, user_id=3, prompt="p")
    prefs = MemberPreferences(user_id=3, count=4, private=True, model="m-pref")
    applied = apply_preferences(spec, prefs, max_count=2)
    assert (applied.count, applied.private, applied.model) == (2, True, "m-pref")
    given = replace(spec, count=1, private=False, model="m-asked")
    kept = apply_preferences(given, prefs, given={"count", "private", "model"})
    assert (kept.count, kept.private, kept.model) == (1, False, "m-asked")
    edit = apply_preferences(spec, prefs, skip=("count",))
    assert (edit.count, edit.private) == (1, True)


async def test_me_shows_usage_quotas_jobs_in_progress_and_preferences(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    me = await h.fake.member(name="busy")
    user_id = int(me["user"]["id"])
    await h.store.update_settings(h.guild_id, user_hourly=5, guild_daily=100)
    await h.store.update_preferences(user_id, image_size="2K")
    hold = asyncio.Event()
    h.gw.script(
        Reply(body=images_response([IMAGE], usage={"total_tokens": 1290})),
        Reply(body=images_response([IMAGE], usage={"total_tokens": 10})),
        Reply(body=images_response([IMAGE]), hold=hold),
    )
    await h.result(await h.fake.slash("imagine", {"prompt": "a cat"}, member=me))
    await h.result(await h.fake.slash("imagine", {"prompt": "a dog"}, member=me))
    slow = await h.fake.slash("imagine", {"prompt": "a slow snail"}, member=me)
    await h.gw.wait_for_requests(3)

    answer = await _private_answer(h, await h.fake.slash("me", member=me))
    first, third = await h.store.get_job(1), await h.store.get_job(3)
    assert third.state == "running"
    hourly_frees = int(first.created_at + 3600)
    daily_frees = int(first.created_at + 86400)
    assert answer == "\n".join(
        [
            "**Your images in this server**",
            "Today (UTC): 2 images, 1,300 tokens, $0.27",  # 2K Pro: 2 x $0.134
            "The last 7 days: 2 images, 1,300 tokens, $0.27",
            "",
            "**Quotas** (rolling: each image counts for an hour, or a day)",
            f"You, per hour: 2 of 5 images left; the next one frees up <t:{hourly_frees}:R>",
            f"This server, per day: 97 of 100 images left; the next one frees up "
            f"<t:{daily_frees}:R>",
            "",
            "**In progress** (up to 2 of yours run at once)",
            f"#3 generating: “a slow snail”, started <t:{int(third.started_at)}:R>",
            "",
            "**Your preferences** (/preferences)",
            "Aspect ratio: the server's default",
            "Size: `2K`",
            "Model: the server's default",
            "Images per job: the server's default",
            "Private results: the server's default",
        ]
    )
    hold.set()
    await h.result(slow)
    after = await _private_answer(h, await h.fake.slash("me", member=me))
    assert "**In progress** (up to 2 of yours run at once)\nNothing in progress.\n" in after
    assert "Today (UTC): 3 images, 1,300 tokens, $0.40" in after


async def test_me_with_no_quotas_and_nothing_made(running_bot: BotHarness) -> None:
    h = running_bot
    answer = await _private_answer(h, await h.fake.slash("me"))
    assert answer.startswith(
        "**Your images in this server**\nToday (UTC): 0 images, 0 tokens, $0.00\n"
        "The last 7 days: 0 images, 0 tokens, $0.00\n\n"
        "**Quotas** (rolling: each image counts for an hour, or a day)\n"
        "None: no hourly or daily cap in this server.\n\n"
        "**In progress** (up to 2 of yours run at once)\nNothing in progress."
    )


async def test_the_model_preference_autocompletes_default_first(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.fake.interaction_result(
        await h.fake.autocomplete("preferences", {"model": "pro"}, "model")
    )
    names = [c["value"] for c in st.choices]
    assert names[0] == "default" and "gemini-3-pro-image-preview" in names[1:]
    assert all("pro" in n for n in names[1:])
