"""A busy channel: independent jobs run side by side, the chain keeps submission order.

The fake gateway holds each answer back until the test releases it, so every
assertion is about what had reached the gateway (or been posted) by then, never
about how long anything took.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from bot.jobs import UPSCALE_PROMPT
from tests.bot.helpers import button
from tests.fakes.discord import InteractionState, StoredMessage
from tests.fakes.gateway import RecordedRequest, Reply, images_response, png_bytes
from tests.harness import BotHarness

WAIT = 15.0  # a bound on waits for events, so a broken build fails instead of hanging


def image(n: int) -> bytes:
    return png_bytes(24, 24, (n * 37 % 256, n * 91 % 256, n * 53 % 256))


def user_texts(request: RecordedRequest) -> list[str]:
    """The user turns' words, oldest first: replayed history, then this request's prompt."""
    texts = []
    for message in request.json["messages"]:
        if message["role"] != "user":
            continue
        content = message["content"]
        texts.append(content if isinstance(content, str) else content[0]["text"])
    return texts


class Answers:
    """Scripted answers by prompt, each held back until released."""

    def __init__(self, h: BotHarness, prompts: Iterable[str]) -> None:
        self.h = h
        self.images = {p: image(i + 1) for i, p in enumerate(prompts)}
        self.release = {p: asyncio.Event() for p in self.images}
        route: Callable[[RecordedRequest], Reply] = self._reply
        h.gw.script(*[route] * len(self.images))

    def _reply(self, request: RecordedRequest) -> Reply:
        prompt = user_texts(request)[-1]
        return Reply(body=images_response([self.images[prompt]]), hold=self.release[prompt])

    def requested(self) -> list[str]:
        return [user_texts(r)[-1] for r in self.h.gw.requests]

    async def arrived(self, count: int) -> list[str]:
        async with asyncio.timeout(WAIT):
            await self.h.gw.wait_for_requests(count)
        return self.requested()

    def request_for(self, prompt: str) -> RecordedRequest:
        return next(r for r in self.h.gw.requests if user_texts(r)[-1] == prompt)


async def posted_reply(h: BotHarness, prompt: str) -> StoredMessage:
    """The result the bot posted in the channel for a reply-to-edit with this prompt."""

    def find() -> StoredMessage | None:
        return next(
            (m for m in h.fake.messages.values() if prompt in m.content and m.attachments),
            None,
        )

    return await h.fake.wait_until(find, timeout=WAIT, what=f"the result of {prompt!r}")


async def first_result(h: BotHarness, prompt: str = "a harbour") -> InteractionState:
    """A finished /imagine, so the channel has a chain before the busy part starts."""
    h.gw.script(Reply(body=images_response([image(99)])))
    return await h.result(await h.fake.slash("imagine", {"prompt": prompt}))


async def test_two_imagines_in_one_channel_reach_the_gateway_together(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    answers = Answers(h, ["a lighthouse", "a windmill"])
    first = await h.fake.slash("imagine", {"prompt": "a lighthouse"})
    second = await h.fake.slash("imagine", {"prompt": "a windmill"})

    # Both requests are in while neither answer has been given.
    assert sorted(await answers.arrived(2)) == ["a lighthouse", "a windmill"]

    answers.release["a windmill"].set()
    done = await h.result(second, WAIT)
    assert done.original.files[0][1] == answers.images["a windmill"]
    answers.release["a lighthouse"].set()
    done = await h.result(first, WAIT)
    assert done.original.files[0][1] == answers.images["a lighthouse"]


async def test_an_edit_sent_while_an_imagine_runs_edits_that_imagines_result(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    await first_result(h)  # the latest image before the /imagine below
    answers = Answers(h, ["a lighthouse", "paint it red"])
    imagine = await h.fake.slash("imagine", {"prompt": "a lighthouse"})
    await answers.arrived(2)
    edit = await h.fake.slash("edit", {"prompt": "paint it red"})
    await h.fake.wait_for(
        lambda r: r.method == "PATCH" and edit.token in r.path and "Waiting" in str(r.json),
        timeout=WAIT,
    )
    assert answers.requested() == ["a harbour", "a lighthouse"]  # the edit waits

    answers.release["a lighthouse"].set()
    await h.result(imagine, WAIT)
    await answers.arrived(3)
    sent = answers.request_for("paint it red")
    assert sent.images == [answers.images["a lighthouse"]]  # the /imagine's result
    assert user_texts(sent) == ["a lighthouse", "paint it red"]  # its chain, not the harbour's
    answers.release["paint it red"].set()
    done = await h.result(edit, WAIT)
    assert done.original.files[0][1] == answers.images["paint it red"]


async def test_the_chain_keeps_the_order_the_edits_were_sent_in(running_bot: BotHarness) -> None:
    h = running_bot
    await h.store.update_settings(h.guild_id, history_turns=10)  # the whole chain replayed
    base = await first_result(h)
    prompts = ["make it dusk", "add gulls", "add a boat"]
    answers = Answers(h, prompts)
    for n, prompt in enumerate(prompts, start=2):  # each one in before the next is sent
        await h.fake.post_message(prompt, reply_to=base.original)
        await answers.arrived(n)

    # They finish in another order: the last one sent first.
    results = {}
    for prompt in ("add a boat", "make it dusk", "add gulls"):
        answers.release[prompt].set()
        results[prompt] = await posted_reply(h, prompt)
    await h.stored()  # every result stored and every turn recorded, in its place

    channel_id = int(h.fake.channel["id"])
    turns = await h.store.recent_turns(channel_id, 10)
    assert [t.prompt for t in turns] == ["a harbour", *prompts]
    # Each was an edit of the given image, replaying the chain recorded when it started.
    assert all(answers.request_for(p).images == [image(99)] for p in prompts)

    h.gw.script(Reply(body=images_response([image(7)])))
    last = await h.result(await h.fake.slash("edit", {"prompt": "and a moon"}), WAIT)
    sent = h.gw.requests[-1]
    assert sent.images == [answers.images["add a boat"]]  # the latest sent, not finished
    assert user_texts(sent) == ["a harbour", *prompts, "and a moon"]
    assert last.original.files[0][1] == image(7)
    assert results["add a boat"].files[0][1] == answers.images["add a boat"]


async def test_a_button_and_an_edit_of_a_given_image_do_not_wait_for_a_running_imagine(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    base = await first_result(h)
    answers = Answers(h, ["a lighthouse", UPSCALE_PROMPT, "make it dusk"])
    imagine = await h.fake.slash("imagine", {"prompt": "a lighthouse"})
    await answers.arrived(2)

    upscale = await h.fake.click(base.original, button(base.original, "up2k"))
    await h.fake.post_message("make it dusk", reply_to=base.original)

    # Both reached the gateway while the /imagine's answer is still held back.
    assert sorted(await answers.arrived(4)) == sorted(
        ["a harbour", "a lighthouse", UPSCALE_PROMPT, "make it dusk"]
    )
    assert answers.request_for(UPSCALE_PROMPT).images == [image(99)]
    assert answers.request_for("make it dusk").images == [image(99)]
    for event in answers.release.values():
        event.set()
    for it in (imagine, upscale):
        assert (await h.result(it, WAIT)).original.attachments
    assert (await posted_reply(h, "make it dusk")).files[0][1] == answers.images["make it dusk"]


async def test_thirty_imagines_in_one_channel_all_reach_the_gateway_before_any_answer(
    running_bot: BotHarness,
) -> None:
    h = running_bot
    jobs = 30
    await h.store.update_settings(h.guild_id, user_concurrency=15, guild_concurrency=jobs)
    members = [await h.fake.member(name=f"member{i}") for i in range(2)]
    prompts = [f"a kite number {i}" for i in range(jobs)]
    answers = Answers(h, prompts)
    asked = [
        await h.fake.slash("imagine", {"prompt": p}, member=members[i % 2])
        for i, p in enumerate(prompts)
    ]

    assert sorted(await answers.arrived(jobs)) == sorted(prompts)

    for event in answers.release.values():
        event.set()
    done: list[Any] = [await h.result(it, WAIT) for it in asked]
    assert [st.original.files[0][1] for st in done] == [answers.images[p] for p in prompts]
