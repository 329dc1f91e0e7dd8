"""The real bot (``bot.discord_bot.app.open_bot``) in its own process, for the Discord sections.

``python -m bench.botproc API_BASE GATEWAY_WS IMAGE_BASE_URL DB_PATH``

DB_PATH is a SQLite file or a ``postgresql://`` URL; SHARD_COUNT, SHARD_IDS and
INSTANCE_NAME in the environment apply as they do to ``python -m bot`` (the scaling
section runs several of these on one PostgreSQL).

Runs what ``python -m bot`` runs, pointed at the fake Discord and the fake gateway,
plus a 5 ms ticker on the bot's own loop. Line protocol on stdin/stdout:
prints ``READY`` once connected; ``tick`` starts recording loop lag, ``report``
prints the lags recorded since as one JSON line; EOF closes the bot.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys

from bench.stats import now
from bench.targets import TICK_INTERVAL_S


async def main(api_base: str, gateway_ws: str, image_base: str, db: str) -> None:
    from bot.config import BotSettings, ImageSettings, load_sharding
    from bot.discord_bot.app import open_bot
    from bot.limits import DEFAULT_OWNER
    from tests.fakes.discord import fast_bot_options

    database_url = db if "://" in db else f"sqlite:///{db}"
    settings = BotSettings(
        token="fake-bot-token",
        secret_key="bench-secret-key-for-the-keybox-0123",
        api_base=api_base,
        gateway_url=gateway_ws,
        database_url=database_url,
        sharding=load_sharding(os.environ, database_url),
        instance_name=os.environ.get("INSTANCE_NAME") or DEFAULT_OWNER,
        log_level="WARNING",
        image=ImageSettings(base_url=image_base, api_key="bench-key", dialect="auto", timeout=120),
    )
    loop = asyncio.get_running_loop()
    lags: list[float] = []
    recording = False

    async def ticker() -> None:
        # Only while recording: 200 wake-ups a second are CPU the throughput section
        # would otherwise count as the bot's (~1 ms per 1K job in an 8-job wave).
        while recording:
            t = now()
            await asyncio.sleep(TICK_INTERVAL_S)
            lags.append(max(0.0, now() - t - TICK_INTERVAL_S))

    async with open_bot(settings, **fast_bot_options()) as bot:
        connect = asyncio.create_task(bot.connect(reconnect=False))
        await bot.wait_until_ready()
        tick: asyncio.Task[None] | None = None
        print("READY", flush=True)
        try:
            while line := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
                if line == "tick":
                    lags.clear()
                    recording = True
                    tick = asyncio.create_task(ticker())
                elif line == "report":
                    recording = False
                    if tick is not None:
                        await tick
                    print(json.dumps({"lags": lags}), flush=True)
        finally:
            if tick is not None:
                tick.cancel()
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(connect, 5)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    parser = argparse.ArgumentParser()
    for name in ("api_base", "gateway_ws", "image_base", "db"):
        parser.add_argument(name)
    a = parser.parse_args()
    if os.environ.get("BENCH_TRACE"):
        from bench import trace

        trace.install()
    profile = os.environ.get("BENCH_PROFILE")  # a path: cProfile stats of the bot's loop
    if profile:
        import cProfile

        cProfile.run("asyncio.run(main(a.api_base, a.gateway_ws, a.image_base, a.db))", profile)
    else:
        asyncio.run(main(a.api_base, a.gateway_ws, a.image_base, a.db))
    if os.environ.get("BENCH_TRACE"):
        trace.dump()
