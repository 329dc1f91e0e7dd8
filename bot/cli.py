"""Command-line entry: ``python -m bot`` runs the bot, ``python -m bot generate ...`` one image job.

``generate`` runs its job through the same ``JobRunner`` as the Discord bot, on the same
``open_services``: prompt and option checks, the input caps and the delivered-size
check are the bot's own. Its store is SQLite in memory (``sqlite:///:memory:``), not a
file: a one-shot command has no history to continue and no quota to count, so a file
would only be left behind in the working directory; the job's rows still go through
the real driver. The size is sent as asked (``keep_size``), as the CLI always did.

Whatever happens, the user sees sentences, never a traceback: an ``error: ...`` line
on stderr and a non-zero exit. Saved paths go to stdout (one per line, for scripts),
model text and progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from bot.config import BotSettings, load_bot_settings, load_dotenv_file, load_image_settings
from bot.errors import (
    ConfigError,
    GatewayAuthError,
    ImagineError,
    PaymentRequired,
    advice_for,
)
from bot.types import (
    ASPECT_RATIOS,
    DIALECTS,
    EXTREME_ASPECT_RATIOS,
    IMAGE_SIZES,
    STREAM_MODES,
    ImageRequest,
)

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# The job layer's store, in memory: quotas and history mean nothing for one command.
MEMORY_DATABASE = "sqlite:///:memory:"

CLI_ADVICE: dict[type[ImagineError], str] = {
    GatewayAuthError: "Check IMAGE_API_KEY (or --api-key).",
    PaymentRequired: "Top up the gateway account, or use another with --base-url.",
}

CLI_DIALECT_FIX = "pick another with --dialect (or IMAGE_API_DIALECT)"


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one ``error:`` line like every other failure."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see: {self.prog} --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m bot",
        description="imagine-bot: Gemini image models in Discord "
        "through OpenAI-compatible gateways.",
    )
    commands = parser.add_subparsers(dest="command", metavar="{run,generate}")
    commands.add_parser("run", help="run the Discord bot (the default)")
    generate = commands.add_parser(
        "generate",
        help="generate or edit an image from the command line",
        description="Generate (or, with --image, edit) images and save them. "
        "Flags fall back to the IMAGE_* settings from the environment or .env.",
    )
    generate.add_argument("prompt", help="what to draw, or what to change in the --image(s)")
    generate.add_argument(
        "--image", action="append", default=[], metavar="PATH", help="reference image (repeatable)"
    )
    generate.add_argument("--model", help="model id (default: IMAGE_MODEL)")
    generate.add_argument(
        "--aspect-ratio",
        choices=ASPECT_RATIOS + EXTREME_ASPECT_RATIOS,
        metavar="RATIO",
        help="e.g. 1:1, 16:9, 9:16",
    )
    generate.add_argument("--size", choices=IMAGE_SIZES, help="1K, 2K or 4K")
    generate.add_argument(
        "--dialect", choices=DIALECTS, help="gateway dialect (default: IMAGE_API_DIALECT or auto)"
    )
    generate.add_argument(
        "--stream",
        choices=STREAM_MODES,
        help="ask for a streamed answer (default: IMAGE_API_STREAM or auto)",
    )
    generate.add_argument("--base-url", help="gateway base URL (default: IMAGE_API_BASE_URL)")
    generate.add_argument("--api-key", help="gateway API key (default: IMAGE_API_KEY)")
    generate.add_argument(
        "--out", default=".", metavar="DIR", help="folder to save images in (default: .)"
    )
    generate.add_argument("--timeout", type=float, metavar="SECONDS", help="per-attempt timeout")
    return parser


def _read_images(paths: Sequence[str]) -> list[bytes]:
    images = []
    for path in paths:
        try:
            images.append(Path(path).read_bytes())
        except OSError as exc:
            raise ImagineError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    return images


def _save(out_dir: Path, stem: str, index: int, extension: str, data: bytes) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = "" if index == 0 else f"-{index + 1}"
    attempt = 0
    while True:
        name = f"{stem}{suffix}{'' if attempt == 0 else f'.{attempt}'}.{extension}"
        path = out_dir / name
        try:
            # Exclusive create: never overwrite an earlier result.
            with open(path, "xb") as handle:
                handle.write(data)
            return path
        except FileExistsError:
            attempt += 1


async def _generate(args: argparse.Namespace) -> int:
    from bot.gateway.warmup import warm_up_worker
    from bot.jobs import JobOutcome, JobRunner, JobSpec, SourceImage
    from bot.services import open_services
    from bot.storage.base import GuildSettings
    from bot.workers import CpuPool

    image_settings = load_image_settings()
    overrides = {
        key: value
        for key, value in {
            "base_url": args.base_url,
            "api_key": args.api_key,
            "dialect": args.dialect,
            "stream": args.stream,
            "timeout": args.timeout,
            "model": args.model,
        }.items()
        if value is not None
    }
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError("--timeout must be a positive number of seconds")
    image_settings = replace(image_settings, **overrides)
    image_settings.gateway()  # a missing setting is named before any file is read
    sources = tuple(
        SourceImage(url=path, filename=Path(path).name, data=data)
        for path, data in zip(args.image, _read_images(args.image), strict=True)
    )
    # No Discord token, no SECRET_KEY (no server keys to read), and a database in memory:
    # one-shot use runs the job layer's checks and accounting but leaves no file behind.
    settings = BotSettings(
        token="", secret_key="", database_url=MEMORY_DATABASE, image=image_settings
    )
    spec = JobSpec(
        kind="edit" if sources else "imagine",
        guild_id=None,
        channel_id=0,
        user_id=0,
        prompt=args.prompt,
        sources=sources,
        aspect_ratio=args.aspect_ratio,
        image_size=args.size,
        upload_limit=None,
        keep_size=True,
    )
    outcome: JobOutcome | None = None

    async def keep(done: JobOutcome) -> None:
        nonlocal outcome
        outcome = done

    def started(request: ImageRequest) -> None:
        print(f"generating with {request.model} ...", file=sys.stderr)

    # One user, one job: a thread is enough and starts faster than worker processes.
    async with (
        CpuPool(inline=True, warm_up=warm_up_worker) as cpu,
        open_services(settings, cpu=cpu) as services,
    ):
        runner = JobRunner(services)
        async with runner.admit(spec, GuildSettings(guild_id=0)) as job:
            await job.run(keep, on_request=started)
    assert outcome is not None
    result = outcome.result
    if result.text:
        print(result.text, file=sys.stderr)
    stem = time.strftime("imagine-%Y%m%d-%H%M%S")
    out_dir = Path(args.out)
    for index, image in enumerate(result.images):
        try:
            path = _save(out_dir, stem, index, image.extension, image.data)
        except OSError as exc:
            raise ImagineError(f"cannot save to {out_dir}: {exc.strerror or exc}") from exc
        print(path)
    notes = list(outcome.notes)
    if outcome.unsent is not None:
        notes.append(outcome.unsent.note(CLI_DIALECT_FIX))
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    return EXIT_OK if result.images else EXIT_FAILED


def _run_bot() -> int:
    from bot.discord_bot.app import run
    from bot.logging_setup import configure_logging

    settings = load_bot_settings()
    configure_logging(settings.log_level, secrets=_known_secrets(settings))
    asyncio.run(run(settings))
    return EXIT_OK


def _known_secrets(settings) -> list[str]:
    known = (settings.token, settings.secret_key, settings.previous_secret_key)
    return [s for s in (*known, settings.image.api_key) if s]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    load_dotenv_file(os.environ.get("IMAGINE_ENV_FILE", ".env"))
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "generate":
            level = os.environ.get("LOG_LEVEL", "WARNING").upper()
            numeric = getattr(logging, level, logging.WARNING)
            logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
            if numeric > logging.DEBUG:
                # The job layer logs for an operator's log (a failed job, an ignored size,
                # with tracebacks); here the same news is the error or warning line.
                logging.getLogger("bot.jobs").setLevel(logging.CRITICAL)
            return asyncio.run(_generate(args))
        return _run_bot()
    except ImagineError as exc:
        print(f"error: {advice_for(exc, CLI_ADVICE)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: a sentence, not a traceback
        log.debug("unexpected failure", exc_info=True)
        print(f"error: {_unexpected(exc)}", file=sys.stderr)
        return EXIT_FAILED


def _unexpected(exc: Exception) -> str:
    """What went wrong in words, and where the traceback is (or how to get it)."""
    from bot.secrets import redact

    secrets = ("DISCORD_TOKEN", "IMAGE_API_KEY", "SECRET_KEY", "SECRET_KEY_PREVIOUS")
    words = redact(str(exc), [os.environ.get(name, "") for name in secrets]).strip()
    what = f"{words} ({type(exc).__name__})" if words else f"{type(exc).__name__}, no message"
    if log.isEnabledFor(logging.DEBUG):
        return f"unexpected failure: {what}; the traceback is logged above"
    return f"unexpected failure: {what}; run with LOG_LEVEL=DEBUG for the traceback"
