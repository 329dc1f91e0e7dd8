"""The fake gateway (tests.fakes.gateway), in a process of its own: ``python -m bench.serve 1K,4K``.

Serving a 28 MB body costs the server's event loop real time; in the measured
process it would show up as the bot's own lag and memory. So the fake runs here,
answers every generation with a prebuilt body chosen by a token anywhere in the
request (``bench:<size>:<shape>:<delay ms>``, as the model name or in the prompt),
and prints ``PORT <n>`` once listening. It exits when its stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

from bench.fixtures import BY_LABEL, SHAPES, STREAM_SHAPES, body_for, content_type_for, photo_png
from bench.stats import now

_JOB = re.compile(rb"benchjob:([\w-]+)")
_TOKEN = re.compile(rb"bench:([\w:-]+?):(markdown|images|sse-markdown|sse-images):(\d+)")
# FakeGateway answers from a script, one entry per request; this outlasts any run.
_SCRIPT_LENGTH = 100_000


def model_name(size: str, shape: str, delay_ms: int = 0) -> str:
    return f"bench:{size}:{shape}:{delay_ms}"


async def main(sizes: list[str], answer_log: str | None) -> None:
    from tests.fakes.gateway import FakeGateway, Reply

    bodies = {
        (s, shape): body_for(shape, photo_png(BY_LABEL[s]))
        for s in sizes
        for shape in SHAPES + STREAM_SHAPES
    }

    def answer(recorded) -> Reply:
        match = _TOKEN.search(recorded.body)
        if match is None:
            return Reply(status=400, body={"error": {"message": "no bench token in the request"}})
        size, shape, delay_ms = (
            match.group(1).decode(),
            match.group(2).decode(),
            int(match.group(3)),
        )
        job = _JOB.search(recorded.body)
        if job is not None and log is not None:
            # When the answer starts to leave: the clock is system-wide (CLOCK_MONOTONIC),
            # so the bench compares it with the fake Discord's receipt of the upload.
            log.write(f"{job.group(1).decode()} {now() + delay_ms / 1000:.6f}\n")
        return Reply(
            body=bodies[(size, shape)], content_type=content_type_for(shape), delay=delay_ms / 1000
        )

    log = open(answer_log, "a", buffering=1) if answer_log else None  # noqa: SIM115, ASYNC230
    async with FakeGateway() as gw:
        gw.script(*([answer] * _SCRIPT_LENGTH))
        gw.requests = _Forgetful()
        print(f"PORT {gw.base_url.rsplit(':', 1)[1].split('/')[0]}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


class _Forgetful(list):
    """Keeps the fake from holding every recorded request (bench runs send hundreds)."""

    def append(self, item) -> None:  # noqa: D102
        pass


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("sizes", help="comma-separated size labels, e.g. 1K,4K")
    parser.add_argument("answer_log", nargs="?", help="append `<job> <answer time>` lines here")
    a = parser.parse_args()
    asyncio.run(main(a.sizes.split(","), a.answer_log))
