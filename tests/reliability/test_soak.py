"""Soak: hundreds of mixed interactions through both fakes, with random gateway and Discord faults.

Checked: every interaction gets exactly one final answer (an image or an error
message; for Delete, its private confirmation), a private ask's image never reaches the
channel (only its own ephemeral answer, or the member's DMs once its token expired),
no asyncio task is left behind, the database is consistent, and memory in
the second half grows less than 10% over the first. Every QUEUE_EVERY-th wave members
ask for more images than their in-flight limit (a job of each waits in line, its progress
showing its place) and press Cancel on waiting and running jobs: the press and the job
are each answered once, a cancelled job's message says who cancelled it, and its row
counts toward no quota and no usage.

The run goes in waves; after each wave the bot is waited on until idle, the wave is
checked, and the fakes forget what they recorded for it, so their own bookkeeping
does not count as the bot's memory. SOAK_SEED / SOAK_INTERACTIONS change the run.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yarl

from bot.discord_bot.removal import DELETED
from bot.i18n import render
from bot.workers import CpuPool
from tests.fakes.discord import FakeDiscord, InteractionState, StoredMessage, redirect_discord
from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    choice_error,
    images_response,
    openai_error,
    png_bytes,
)
from tests.harness import GATEWAY_KEY, BotHarness, final_message, make_settings
from tests.reliability.conftest import read_db

pytestmark = pytest.mark.soak

SEED = int(os.environ.get("SOAK_SEED", "6"))
INTERACTIONS = int(os.environ.get("SOAK_INTERACTIONS", "300"))
WAVE = 10
# Short enough that a scripted stall is a timeout, long enough for a loaded 2-core box.
GATEWAY_TIMEOUT = 1.0
RESULT = png_bytes(12, 12, (30, 160, 90))
REFERENCE = png_bytes(10, 10, (200, 200, 20))
USAGE = {"prompt_tokens": 20, "completion_tokens": 1290, "total_tokens": 1310}
RESULT_POOL = 8  # recent result messages kept for buttons and replies
# Every QUEUE_EVERY-th wave, QUEUE_MEMBERS members each ask for more images at once than
# their in-flight limit of QUEUE_LIMIT: one job of each waits in line; some press Cancel.
QUEUE_EVERY = 5
QUEUE_MEMBERS = 3
QUEUE_LIMIT = 2
# Image counts of one member's jobs, each more than QUEUE_LIMIT whatever order they are
# admitted in, and each leaving exactly one of them in line.
BURSTS = ((1, 1, 1), (2, 1), (1, 2), (2, 2))


class GatewayChaos:
    """Answers each generation attempt with success or one of the faults gateways produce."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.counts: Counter[str] = Counter()
        # Set while a wave needs jobs to stay running: every answer waits for it.
        self.hold: asyncio.Event | None = None

    def __call__(self, request: Any) -> Reply:
        kind, reply = self._pick()
        self.counts[kind] += 1
        return reply if self.hold is None else replace(reply, hold=self.hold)

    def _pick(self) -> tuple[str, Reply]:
        roll = self.rng.random()
        ok = Reply(body=images_response([RESULT], usage=USAGE))
        table: list[tuple[float, str, Callable[[], Reply]]] = [
            (
                0.07,
                "429",
                lambda: Reply(
                    status=429,
                    body=openai_error("Rate limit exceeded", code=429),
                    headers={"Retry-After": "0"},
                ),
            ),
            (0.07, "500", lambda: Reply(status=500, body=openai_error("boom", code=500))),
            (0.05, "503", lambda: Reply(status=503, body="Service Unavailable")),
            (0.03, "timeout", lambda: replace(ok, delay=GATEWAY_TIMEOUT + 0.5)),
            (0.06, "refusal", lambda: Reply(body=images_response([], "I can't draw that."))),
            (
                0.04,
                "html",
                lambda: Reply(body="<html>502 Bad Gateway</html>", content_type="text/html"),
            ),
            (0.03, "truncated", lambda: Reply(body='{"choices": [{"message": {"con')),
            (0.03, "choice-error", lambda: Reply(body=choice_error("upstream failed"))),
            (0.02, "401", lambda: Reply(status=401, body=openai_error("Invalid API key"))),
        ]
        for p, kind, make in table:
            if roll < p:
                return kind, make()
            roll -= p
        return "ok", ok


@dataclass
class Ask:
    """One thing a member did, and where its answer can appear."""

    kind: str
    user_id: str
    interaction: InteractionState | None = None
    message_id: str | None = None  # the member's own message, for reply-to-edit
    expects_modal: bool = False
    private: bool = False  # its image must never be where the channel can see it
    # Messages that existed when a member asked again (a result's owner pressing its
    # buttons): the owner's earlier answers are not this ask's.
    seen: frozenset[str] = frozenset()
    prompt: str = ""  # an over-limit job's own prompt, to find its gateway requests


@dataclass
class Cancel:
    """A member's Cancel press on one of their jobs, queued or running when pressed."""

    press: InteractionState
    ask: Ask
    job_id: int
    queued: bool


@dataclass
class Tally:
    kinds: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    discord_faults: Counter[str] = field(default_factory=Counter)
    rss: list[tuple[int, int]] = field(default_factory=list)
    # Jobs whose result a Delete removed, with its image count (usage still has them).
    deleted: dict[int, int] = field(default_factory=dict)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _final(msg: StoredMessage) -> bool:
    return bool(msg.attachments or msg.content) and final_message(msg)


def _channel_posts(fake: FakeDiscord) -> list[StoredMessage]:
    bot_id = fake.bot_user["id"]
    return [
        m
        for m in fake.messages.values()
        if m.payload["author"]["id"] == bot_id and "webhook_id" not in m.payload
    ]


def _buttons(message: StoredMessage) -> list[str]:
    """The custom_ids a member can press (a count:N result's row labels are disabled)."""
    return [c for c in message.custom_ids() if not c.startswith("imagine:row:")]


def _dms(fake: FakeDiscord, user_id: str) -> list[StoredMessage]:
    return fake.direct_messages({"user": {"id": user_id}})


def answers_of(fake: FakeDiscord, ask: Ask, posts: list[StoredMessage]) -> list[str]:
    """Every final answer this ask got, as "image" / "error" / "modal" / "deleted" labels."""
    found = [m for m in posts if _answers(m, ask)]
    labels: list[str] = []
    if ask.interaction is not None:
        st = ask.interaction
        if st.callback_type == 9:
            labels.append("modal")
        # A deferred update (Delete) answers in follow-ups; its original is the result.
        answers = st.followups if st.callback_type == 6 else st.messages
        found += [m for m in answers if _final(m)]
        found += [m for m in _dms(fake, ask.user_id) if m.id not in ask.seen]
    labels += [
        "image" if m.attachments else "deleted" if m.content == render(DELETED) else "error"
        for m in found
    ]
    return labels


def _answers(post: StoredMessage, ask: Ask) -> bool:
    """Whether a channel post is this ask's answer: it names the member, or replies to them."""
    if ask.interaction is None:
        return (post.payload.get("message_reference") or {}).get("message_id") == ask.message_id
    return f"<@{ask.user_id}>" in post.content and post.id not in ask.seen


def _placed(fake: FakeDiscord, ask: Ask) -> bool:
    """Whether the ask's progress ever showed its place in line."""
    assert ask.interaction is not None
    token = ask.interaction.token
    return any(
        "in line" in ((r.json or {}).get("content") or "")
        for r in fake.find(lambda r: r.method == "PATCH" and token in r.path)
        if isinstance(r.json, dict) and r.status == 200
    )


def _final_answer(ask: Ask) -> bool:
    return ask.interaction is not None and any(_final(m) for m in ask.interaction.messages)


def check_cancel(c: Cancel, job: Any) -> str:
    """A press either cancelled its job (its message says so, by whom; no quota counted)
    or came after the job was over (the press is told so; the job answered as usual)."""
    press, st = c.press, c.ask.interaction
    assert st is not None
    finals = [m for m in st.messages if _final(m)]
    by = c.ask.user_id
    if press.callback_type == 6:  # deferred update: the job's own message says it
        assert press.followups == [], c
        assert len(finals) == 1, (c, finals)
        (answer,) = finals
        assert f"Cancelled by <@{by}>." in answer.content and not answer.attachments, answer
        assert not any(cid.startswith("imagine:cancel:") for cid in answer.custom_ids()), answer
        assert (job.state, job.counted) == ("failed", False), job
        assert job.result == {"error": "cancelled", "cancelled_by": int(by)}, job
        return "cancelled queued" if c.queued else "cancelled running"
    assert [(m.content, m.ephemeral) for m in press.messages] == [
        ("That job has already finished, so there is nothing to cancel.", True)
    ], c
    assert job.state in ("done", "failed") and job.result.get("error") != "cancelled", job
    return "cancel too late"


def leaked(fake: FakeDiscord, ask: Ask, posts: list[StoredMessage]) -> list[StoredMessage]:
    """Images of a private ask that the channel can see (there must be none)."""
    st = ask.interaction
    if not ask.private or st is None:
        return []
    public = [m for m in st.messages if not m.ephemeral and m.attachments]
    dm_ids = {m.id for m in _dms(fake, ask.user_id)}
    mentioned = [m for m in posts if f"<@{ask.user_id}>" in m.content and m.id not in dm_ids]
    return public + [m for m in mentioned if m.attachments and m.id not in ask.seen]


class Soak:
    def __init__(self, h: BotHarness, rng: random.Random, tally: Tally) -> None:
        self.h = h
        self.fake = h.fake
        self.rng = rng
        self.tally = tally
        self.results: list[StoredMessage] = []  # recent messages carrying buttons
        self.owned: list[StoredMessage] = []  # recent private results, for their owner only
        self.owners: dict[str, dict[str, Any]] = {}  # result message id -> who asked
        self.members: dict[str, dict[str, Any]] = {}  # user id -> member, while they may ask
        # Owners pressing their results' buttons in this wave: one ask per owner per wave, as
        # a private answer (DMs, a channel line naming them) is told apart by its member.
        self.busy: set[str] = set()
        self.channels = [c for c in self.fake.guild["channels"] if c.get("type", 0) == 0][:3]

    async def _member(self) -> dict[str, Any]:
        # A new member per ask: answers in the channel are told apart by their mention.
        member = await self.fake.member(name=f"m{self.rng.randrange(10**6)}")
        self.members[member["user"]["id"]] = member
        return member

    async def one(self, i: int) -> list[Ask]:
        rng = self.rng
        kind = rng.choices(
            [
                "imagine",
                "imagine+image",
                "imagine+count",
                "private",
                "edit",
                "button",
                "private-button",
                "delete",
                "modal",
                "reply",
            ],
            weights=[22, 8, 10, 10, 12, 12, 6, 6, 6, 8],
        )[0]
        if kind in ("button", "modal", "reply", "delete") and not self.results:
            kind = "imagine"
        if kind == "private-button" and not self.owned:
            kind = "private"
        if kind in ("private-button", "delete"):
            again = await self._again(kind, i)
            if again is not None:
                self.tally.kinds[kind] += 1
                return [again]
            kind = "private" if kind == "private-button" else "imagine"
        self.tally.kinds[kind] += 1
        member = await self._member()
        uid = member["user"]["id"]
        channel = rng.choice(self.channels)
        if kind == "reply":
            target = rng.choice(self.results)
            msg = await self.fake.post_message(
                f"soak {i}: make it blue", author=member, reply_to=target, mention_bot=True
            )
            return [Ask(kind, uid, message_id=msg.id)]
        if kind in ("button", "modal"):
            target = rng.choice(self.results)
            ids = _buttons(target)
            if kind == "modal":
                cid = next(c for c in ids if ":edit:" in c)
                opened = await self.fake.click(target, cid, member=member)
                await self.fake.interaction_result(opened, timeout=30)
                asks = [Ask("modal-open", uid, opened, expects_modal=True)]
                if opened.modal is not None:
                    (field_id,) = [
                        c["custom_id"]
                        for row in opened.modal["components"]
                        for c in row.get("components", [])
                    ]
                    done = await self.fake.submit_modal(opened, {field_id: f"soak {i}: add a moon"})
                    asks.append(Ask("modal", uid, done))
                return asks
            cid = rng.choice([c for c in ids if ":edit:" not in c])
            st = await self.fake.click(target, cid, member=member)
        elif kind == "edit":
            st = await self.fake.slash(
                "edit", {"prompt": f"soak {i}: brighter"}, member=member, channel=channel
            )
        else:
            options: dict[str, Any] = {"prompt": f"soak {i}: a lighthouse"}
            if kind == "imagine+image":
                options["image"] = ("ref.png", REFERENCE)
            if kind == "imagine+count":
                options["count"] = rng.randint(2, 4)
            if kind == "private":
                options["private"] = True
                options["count"] = rng.choice((1, 1, 2))
            st = await self.fake.slash("imagine", options, member=member, channel=channel)
        self._maybe_expire(st)
        return [Ask(kind, uid, st, private=kind == "private")]

    def _maybe_expire(self, st: InteractionState) -> None:
        if self.rng.random() < 0.04:
            self.tally.discord_faults["expired token"] += 1
            # Before or after the defer: the channel (a private answer: the DMs) gets it.
            self.fake.expire(st)

    async def _again(self, kind: str, i: int) -> Ask | None:
        """A result's owner presses one of its buttons: a private result's, or Delete.

        None when every such result's owner already asks something in this wave.
        """
        rng = self.rng
        pool = self.owned if kind == "private-button" else self.results + self.owned
        pool = [m for m in pool if self.owners[m.id]["user"]["id"] not in self.busy]
        if not pool:
            return None
        target = rng.choice(pool)
        owner = self.owners[target.id]
        self.busy.add(owner["user"]["id"])
        private = target.ephemeral
        ids = _buttons(target)
        if kind == "delete":
            # Mostly its owner; someone else (refused) where everyone sees the message.
            member = owner if private or rng.random() < 0.7 else await self._member()
            cid = next(c for c in ids if c.startswith("imagine:delete:"))
        else:
            member = owner
            cid = rng.choice([c for c in ids if ":edit:" not in c and ":delete:" not in c])
        seen = frozenset(self.fake.messages)
        st = await self.fake.click(target, cid, member=member)
        if kind == "private-button":
            self._maybe_expire(st)
        elif member is owner:
            self.tally.deleted.setdefault(int(cid.rsplit(":", 1)[1]), len(target.attachments))
        return Ask(kind, member["user"]["id"], st, private=private, seen=seen)

    async def over_limit(self, i: int, chaos: GatewayChaos) -> tuple[list[Ask], list[Cancel]]:
        """Members ask for more than their in-flight limit; some cancel a waiting or a running job.

        The gateway holds every answer until the presses are in, so a job is still waiting or
        running when its Cancel is pressed (or, on a machine too slow for the gateway timeout,
        has failed: the press is then told it is over, and the check below allows that).
        What is pressed is drawn before anything is looked at: the same for a seed however
        the run goes.
        """
        rng, fake, h = self.rng, self.fake, self.h
        await h.store.update_settings(h.guild_id, user_concurrency=QUEUE_LIMIT)
        hold = chaos.hold = asyncio.Event()
        try:
            bursts: list[tuple[dict[str, Any], list[Ask], bool, bool]] = []
            for m in range(QUEUE_MEMBERS):
                member = await self._member()
                channel = rng.choice(self.channels)
                sizes = rng.choice(BURSTS)
                cancel_queued, cancel_running = rng.random() < 0.6, rng.random() < 0.4
                asks = []
                for k, count in enumerate(sizes):
                    prompt = f"soak {i}.{m}.{k}: a queue"
                    options: dict[str, Any] = {"prompt": prompt}
                    if count > 1:
                        options["count"] = count
                    st = await fake.slash("imagine", options, member=member, channel=channel)
                    asks.append(Ask("over-limit", member["user"]["id"], st, prompt=prompt))
                self.tally.kinds["over-limit"] += len(asks)
                bursts.append((member, asks, cancel_queued, cancel_running))
            every = [a for _, asks, _, _ in bursts for a in asks]

            def settled() -> bool:
                # Each job waits in line, reached the gateway, or is over; each member has
                # one in line (their limit held it back).
                return all(
                    _placed(fake, a) or self._upstream(a) or _final_answer(a) for a in every
                ) and all(any(_placed(fake, a) for a in asks) for _, asks, _, _ in bursts)

            async with asyncio.timeout(60):
                while not settled():  # noqa: ASYNC110 (two fakes' records: no one event)
                    await asyncio.sleep(0.02)
            self.tally.kinds["shown a place"] += sum(_placed(fake, a) for a in every)
            cancels = []
            for member, asks, cancel_queued, cancel_running in bursts:
                waiting = [a for a in asks if _placed(fake, a) and not self._upstream(a)]
                running = [a for a in asks if self._upstream(a)]
                for wanted, targets, queued in (
                    (cancel_queued, waiting, True),
                    (cancel_running, running, False),
                ):
                    st = targets[0].interaction if wanted and targets else None
                    if st is None or st.original is None:
                        continue
                    ids = [c for c in st.original.custom_ids() if c.startswith("imagine:cancel:")]
                    if not ids:  # already over: its message has no Cancel left
                        continue
                    press = await fake.click(st.original, ids[0], member=member)
                    job_id = int(ids[0].rsplit(":", 1)[1])
                    cancels.append(Cancel(press, targets[0], job_id, queued))
            for c in cancels:
                await fake.wait_for_interaction_reply(c.press, timeout=60)
        finally:
            hold.set()
            chaos.hold = None
        await h.store.update_settings(h.guild_id, user_concurrency=4)
        return every, cancels

    def _upstream(self, ask: Ask) -> bool:
        """Whether the ask's job has sent the gateway a request (it runs, or ran)."""
        prompt = ask.prompt.encode()
        return bool(prompt) and any(prompt in r.body for r in self.h.gw.requests)

    def discord_faults(self) -> None:
        rng, fake, faults = self.rng, self.fake, self.tally.discord_faults
        edit = "PATCH /webhooks/*/messages/@original"
        if rng.random() < 0.3:
            faults["500 on @original edit"] += 1
            fake.server_error(edit)
        if rng.random() < 0.3:
            faults["429 (Via) on @original edit"] += 1
            fake.rate_limit(edit, retry_after=0.01)
        if rng.random() < 0.15:
            faults["500 on interaction callback"] += 1
            fake.server_error("POST /interactions/*")
        if rng.random() < 0.15:
            faults["429 (Via) on channel post"] += 1
            fake.rate_limit("POST /channels/*/messages", retry_after=0.01)

    def remember_results(self, asks: list[Ask], posts: list[StoredMessage]) -> None:
        members = self.members
        for ask in asks:
            msgs = list(ask.interaction.messages) if ask.interaction else []
            if ask.interaction is not None and ask.interaction.callback_type == 6:
                msgs = []  # a Delete's original is the result it removed
            mine = [p for p in posts if _answers(p, ask)]
            for m in msgs + mine:
                if not (m.attachments and any(":edit:" in c for c in m.custom_ids())):
                    continue
                pool = self.owned if m.ephemeral else self.results
                if m not in pool:
                    pool.append(m)
                    self.owners[m.id] = members[ask.user_id]
        for pool in (self.results, self.owned):
            pool[:] = [m for m in pool if m.id in self.fake.messages][-RESULT_POOL:]
        kept = {m.id for m in self.results + self.owned}
        self.owners = {mid: who for mid, who in self.owners.items() if mid in kept}

    def forget(self, asks: list[Ask]) -> None:
        """Drop the fakes' records of a checked wave (they are the test's memory, not the bot's)."""
        fake = self.fake
        keep = {m.id for m in self.results + self.owned}
        for ask in asks:
            if ask.interaction is not None:
                fake.interactions.pop(ask.interaction.id, None)
        for mid in [mid for mid in fake.messages if mid not in keep]:
            del fake.messages[mid]
        live = {yarl.URL(a["url"]).path for m in self.results + self.owned for a in m.attachments}
        for path in [p for p in fake._cdn if p not in live]:  # noqa: SLF001
            del fake._cdn[path]  # noqa: SLF001
        owners = {who["user"]["id"] for who in self.owners.values()}
        for uid in [u for u in fake.users if u not in owners]:
            del fake.users[uid]
        self.members = {u: m for u, m in self.members.items() if u in owners}
        fake.dm_channels = {c: u for c, u in fake.dm_channels.items() if u in owners}
        fake.requests.clear()
        fake._claimed.clear()  # noqa: SLF001
        fake.faults[:] = [f for f in fake.faults if f.remaining > 0]
        session = fake._session  # noqa: SLF001
        if session is not None:  # every frame so far was received: RESUME never needs them
            del session.log[:-20]
        self.h.gw.requests.clear()
        self.h.gw.streams.clear()


def _bot_tasks(baseline: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Unfinished tasks not in ``baseline``, leaving out the fakes' server-side handlers.

    A fake gateway answer scripted to stall keeps its handler asleep after the bot gave up
    on it; that task is the fake's, not the bot's.
    """
    me = asyncio.current_task()
    return {
        t
        for t in asyncio.all_tasks()
        if t is not me
        and not t.done()
        and t not in baseline
        and not getattr(t.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    }


async def _idle(bot: Any, baseline: set[asyncio.Task[Any]], deadline: float = 30.0) -> set:
    """Wait until the bot runs no job and every task it started for the wave has ended.

    Awaits the tasks themselves; finished tasks may have started new ones (a result
    posting after a job), so it looks again until none are left or ``deadline`` passes.
    """
    end = time.monotonic() + deadline
    while True:
        extra = _bot_tasks(baseline)
        if not extra and bot.runtime.admissions.in_flight() == 0:
            return set()
        remaining = end - time.monotonic()
        if remaining <= 0:
            return extra
        if extra:
            await asyncio.wait(extra, timeout=remaining)
        else:
            # A job slot is held but its task is not ours to see yet: let it run.
            await asyncio.sleep(0)


def check_database(h: BotHarness, deleted: dict[int, int]) -> dict[str, int]:
    assert read_db(h, "PRAGMA journal_mode")[0][0] == "wal"
    assert read_db(h, "PRAGMA integrity_check")[0][0] == "ok"
    assert read_db(h, "PRAGMA foreign_key_check") == []
    unfinished = read_db(h, "SELECT id, state FROM jobs WHERE state IN ('queued', 'running')")
    assert [dict(r) for r in unfinished] == []
    blobs = {r[0] for r in read_db(h, "SELECT sha256 FROM blobs")}
    done = read_db(h, "SELECT id, result FROM jobs WHERE state = 'done'")
    images = 0
    for row in done:
        result = json.loads(row["result"])
        if result == {"deleted": True}:  # Delete took its images; usage still counts them
            images += deleted[row["id"]]
            continue
        outputs = result["outputs"]
        assert outputs and set(outputs) <= blobs, f"job {row['id']} lost its images"
        images += len(outputs)
    dangling = read_db(
        h,
        "SELECT tb.turn_id, tb.sha256 FROM turn_blobs tb LEFT JOIN blobs b USING (sha256)"
        " WHERE b.sha256 IS NULL UNION ALL SELECT jb.job_id, jb.sha256 FROM job_blobs jb"
        " LEFT JOIN blobs b USING (sha256) WHERE b.sha256 IS NULL",
    )
    assert [tuple(r) for r in dangling] == []
    orphan_turns = read_db(
        h, "SELECT t.id FROM turns t LEFT JOIN jobs j ON j.id = t.job_id WHERE j.id IS NULL"
    )
    assert orphan_turns == []
    (usage,) = read_db(h, "SELECT SUM(jobs), SUM(images), SUM(tokens) FROM usage")
    assert usage[0] == len(done) and usage[1] == images
    assert usage[2] == images * USAGE["total_tokens"]
    states = Counter(r[0] for r in read_db(h, "SELECT state FROM jobs"))
    return dict(states)


@pytest.fixture
async def soak_harness(tmp_path: Path, cpu_pool: CpuPool):
    async with FakeDiscord.running() as fake, FakeGateway(api_key=GATEWAY_KEY) as gw:
        with redirect_discord(fake):
            settings = make_settings(fake, gw, tmp_path / "bot.db")
            settings = replace(settings, image=replace(settings.image, timeout=GATEWAY_TIMEOUT))
            yield BotHarness(fake, gw, settings, cpu_pool)


async def test_soak(soak_harness: BotHarness) -> None:
    h = soak_harness
    rng = random.Random(SEED)
    tally = Tally()
    chaos = GatewayChaos(random.Random(SEED + 1))
    h.gw.script(*[chaos] * (INTERACTIONS * 12))
    started = time.monotonic()
    before_bot = set(asyncio.all_tasks())

    bot = await h.start()
    try:
        await _run(h, bot, rng, tally, chaos, started, before_bot)
    finally:
        await h.stop()


async def _run(
    h: BotHarness,
    bot: Any,
    rng: random.Random,
    tally: Tally,
    chaos: GatewayChaos,
    started: float,
    before_bot: set[asyncio.Task[Any]],
) -> None:
    bot.gateway.backoff_base, bot.gateway.backoff_max = 0.01, 0.05
    # Room for count:4 jobs: each image is one job slot.
    await h.store.update_settings(h.guild_id, guild_concurrency=WAVE * 4, user_concurrency=4)
    soak = Soak(h, rng, tally)
    baseline = set(asyncio.all_tasks())
    waves = -(-INTERACTIONS // WAVE)
    drops = {waves // 3, 2 * waves // 3}
    asked = 0
    for wave in range(waves):
        soak.discord_faults()
        soak.busy.clear()
        cancels: list[Cancel] = []
        if wave % QUEUE_EVERY == QUEUE_EVERY - 1 and wave not in drops:
            asks, cancels = await soak.over_limit(asked, chaos)
            asked += len(asks)
        else:
            n = min(WAVE, INTERACTIONS - asked)
            runs = [asyncio.create_task(soak.one(asked + k)) for k in range(n)]
            if wave in drops:
                await h.gw.wait_for_requests(1)
                tally.discord_faults["websocket drop"] += 1
                await h.fake.drop_websocket()
            asks = [a for batch in await asyncio.gather(*runs) for a in batch]
            asked += n

        def all_answered(asks: list[Ask] = asks, cancels: list[Cancel] = cancels) -> bool:
            posts = _channel_posts(h.fake)
            return all(answers_of(h.fake, a, posts) for a in asks) and all(
                c.press.answered() or c.press.callback_type == 6 for c in cancels
            )

        await h.fake.wait_until(all_answered, timeout=60, what=f"answers of wave {wave}")
        left = await _idle(bot, baseline)
        assert not left, f"tasks left behind after wave {wave}: {left}"
        posts = _channel_posts(h.fake)
        for ask in asks:
            got = answers_of(h.fake, ask, posts)
            if ask.expects_modal:
                assert got in (["modal"], ["error"]), (ask, got)
            elif ask.kind == "delete":
                assert got in (["deleted"], ["error"]), (ask, got)
            else:
                assert len(got) == 1 and got[0] in ("image", "error"), (ask, got)
            assert not leaked(h.fake, ask, posts), (ask, leaked(h.fake, ask, posts))
            tally.answers[got[0]] += 1
        for c in cancels:
            tally.answers[check_cancel(c, await h.store.get_job(c.job_id))] += 1
        soak.remember_results(asks, posts)
        soak.forget(asks)
        if wave in (waves // 4, waves // 2, waves - 1):
            gc.collect()
            tally.rss.append((wave, _rss()))

    states = check_database(h, tally.deleted)
    assert h.fake.resume_count == len(drops) and len(h.fake.identifies) == 1
    await h.stop()
    leftover = _bot_tasks(before_bot)
    assert not leftover, f"tasks left after the bot closed: {leftover}"

    (_, warm), (_, mid), (_, end) = tally.rss
    elapsed = time.monotonic() - started
    report = (
        f"soak seed={SEED}: {asked} asks {dict(tally.kinds)} in {elapsed:.1f}s; "
        f"answers {dict(tally.answers)}; jobs {states}; gateway {dict(chaos.counts)}; "
        f"discord faults {dict(tally.discord_faults)}; RSS MB warm/mid/end "
        f"{warm / 2**20:.1f}/{mid / 2**20:.1f}/{end / 2**20:.1f}"
    )
    print(report)
    assert (end - mid) < 0.10 * (mid - 0) and (mid - warm) < 0.10 * warm, report
    assert tally.answers["image"] > INTERACTIONS // 3, report  # faults did not drown the run
