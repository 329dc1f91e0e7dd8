"""Command-line entry: ``python -m bot`` runs the bot, ``python -m bot generate ...`` one image job.

``generate`` runs its job through the same ``JobRunner`` as the Discord bot
(``bot.oneshot``): prompt and option checks, the input caps and the delivered-size
check are the bot's own. Everything that can be checked without the gateway is checked
first (``bot.preflight``): a refusal after a paid call loses the image. The size is sent
as asked (``keep_size``), as the CLI always did. ``check``, ``backup`` and ``migrate``
are the operator's (``bot.check``, ``bot.backup``, ``bot.migrate``).

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
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import NoReturn

from bot.config import env_file_note, load_bot_settings, load_dotenv_file, load_image_settings
from bot.errors import (
    ConfigError,
    GatewayAuthError,
    ImagineError,
    PaymentRequired,
    advice_for,
)
from bot.i18n import Message, _, current_locale, join, render, supported, use_locale
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

# Inside the checkout's .gitignore: images never land among the sources by default.
DEFAULT_OUT = "out"

GENERATE_EXAMPLES = """examples:
  python -m bot generate "a cat in a cafe, warm tones" --aspect-ratio 16:9
  python -m bot generate "a poster of a lighthouse" --model gemini-3-pro-image-preview --size 2K
  python -m bot generate "make it night" --image out/imagine-20261123-101500.png
  python -m bot generate "combine them" --image a.png --image b.jpg --out ~/pictures

Saved paths go to stdout, one per line; the model's text and warnings to stderr.
Everything that can be checked beforehand (the prompt, the --image files, the --out
folder, the settings) is checked before the gateway is paid for a call."""

CLI_ADVICE: dict[type[ImagineError], Message] = {
    GatewayAuthError: _("Check IMAGE_API_KEY (or --api-key)."),
    PaymentRequired: _("Top up the gateway account, or use another with --base-url."),
}

# Translators: ends the sentence "The `openai` dialect cannot ask for 4K, so the gateway
# made 1024×1024; ..." (after a semicolon); --dialect and IMAGE_API_DIALECT stay as they are.
CLI_DIALECT_FIX = _("pick another with --dialect (or IMAGE_API_DIALECT)")
# Where the CLI's language comes from, first set and non-empty first (as gettext looks).
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")


def environment_locale(environ: Mapping[str, str] | None = None) -> str:
    """The supported locale the environment asks for (LC_ALL, LC_MESSAGES, then LANG);
    English for C, POSIX, none, or a language without a catalog."""
    environ = os.environ if environ is None else environ
    for name in LOCALE_VARIABLES:
        if value := environ.get(name, ""):
            return supported(value)
    return supported(None)


def use_environment_locale() -> str:
    """Speak the environment's language for the rest of this command; its code."""
    use_locale(environment_locale())
    return current_locale()


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
    parser.add_argument("--version", action="version", version=f"imagine-bot {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="{run,generate,check,backup,migrate}")
    commands.add_parser("run", help="run the Discord bot (the default)")
    generate = commands.add_parser(
        "generate",
        help="generate or edit an image from the command line",
        description="Generate (or, with --image, edit) images and save them. "
        "Flags fall back to the IMAGE_* settings from the environment or .env.",
        epilog=GENERATE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
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
        "--out",
        default=DEFAULT_OUT,
        metavar="DIR",
        help=f"folder to save images in, created if missing (default: {DEFAULT_OUT}/)",
    )
    generate.add_argument("--timeout", type=float, metavar="SECONDS", help="per-attempt timeout")
    check = commands.add_parser(
        "check",
        help="check the settings, the Discord token and intents, the database and the gateway",
        description="One line per item, each with the fix; the exit status is 0 only if all pass.",
    )
    check.add_argument(
        "--generate",
        action="store_true",
        help="also spend one small test image to prove the dialect returns an image",
    )
    backup = commands.add_parser(
        "backup",
        help="copy the SQLite database consistently, also while the bot runs",
        description="Copies DATABASE_URL's database with SQLite's online backup. "
        "Keep SECRET_KEY with the copy: without it the servers' API keys cannot be read.",
    )
    backup.add_argument("path", help="file to create, or a folder to create a dated file in")
    migrate = commands.add_parser(
        "migrate",
        help="copy the SQLite database into an empty PostgreSQL database",
        description="Copies settings, encrypted keys, history, jobs, usage and images from "
        "DATABASE_URL's SQLite database (or --from) into PostgreSQL, in one transaction, "
        "and checks every table's count. Stop the bot first.",
    )
    migrate.add_argument("--to", required=True, metavar="URL", help="postgresql://... (empty)")
    migrate.add_argument(
        "--from", dest="source", metavar="URL", help="sqlite:///path (default: DATABASE_URL)"
    )
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imagine-bot")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


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
    from bot.jobs import JobSpec, SourceImage
    from bot.oneshot import run_one
    from bot.preflight import (
        check_generate_prompt,
        check_text,
        option_warnings,
        read_inputs,
        writable_folder,
    )

    for name in ("model", "base_url", "api_key"):
        check_text(f"--{name.replace('_', '-')}", getattr(args, name))
    prompt = check_generate_prompt(args.prompt)
    if args.timeout is not None and args.timeout <= 0:
        raise ConfigError(_("--timeout must be a positive number of seconds"))
    image_settings = _image_settings(args)
    for warning in option_warnings(image_settings.model, args.size, args.aspect_ratio):
        print(f"warning: {render(warning)}", file=sys.stderr)
    out_dir = writable_folder(args.out)
    sources = tuple(
        SourceImage(url=path, filename=Path(path).name, data=data)
        for path, data in zip(args.image, read_inputs(args.image), strict=True)
    )
    spec = JobSpec(
        kind="edit" if sources else "imagine",
        guild_id=None,
        channel_id=0,
        user_id=0,
        prompt=prompt,
        sources=sources,
        aspect_ratio=args.aspect_ratio,
        image_size=args.size,
        upload_limit=None,
        keep_size=True,
    )

    def started(request: ImageRequest) -> None:
        # Translators: {model} is the model's id (gemini-2.5-flash-image).
        print(render(_("generating with {model} ...", model=request.model)), file=sys.stderr)

    outcome = await run_one(image_settings, spec, on_request=started)
    result = outcome.result
    if result.text:
        print(result.text, file=sys.stderr)
    stem = time.strftime("imagine-%Y%m%d-%H%M%S")
    for index, image in enumerate(result.images):
        try:
            path = _save(out_dir, stem, index, image.extension, image.data)
        except OSError as exc:
            # Translators: {folder} is a folder's path; {reason} the system's reason, in
            # English (Permission denied).
            raise ImagineError(
                _(
                    "cannot save to {folder}: {reason}",
                    folder=str(out_dir),
                    reason=exc.strerror or str(exc),
                )
            ) from exc
        print(path)
    notes: list[Message] = list(outcome.notes)
    if outcome.unsent is not None:
        notes.append(outcome.unsent.note(CLI_DIALECT_FIX))
    for note in notes:
        print(f"warning: {render(note)}", file=sys.stderr)
    return EXIT_OK if result.images else EXIT_FAILED


def _image_settings(args: argparse.Namespace):
    """The IMAGE_* settings with the flags over them; a missing one says where .env was."""
    try:
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
        image_settings = replace(image_settings, **overrides)
        image_settings.gateway()  # every missing setting named before any file is read
    except ConfigError as exc:
        raise ConfigError(join([exc.message, env_file_note(_env_file())], sep="; ")) from exc
    return image_settings


def _env_file() -> str:
    return os.environ.get("IMAGINE_ENV_FILE", ".env")


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


def _quiet_logging() -> None:
    """A command's own lines on stderr; the libraries' and the job layer's only at DEBUG."""
    level = os.environ.get("LOG_LEVEL", "WARNING").upper()
    numeric = getattr(logging, level, logging.WARNING)
    logging.basicConfig(level=numeric, stream=sys.stderr, format="%(message)s")
    if numeric > logging.DEBUG:
        # The job layer logs for an operator's log (a failed job, an ignored size,
        # with tracebacks); here the same news is the error or warning line. httpx
        # logs every request at INFO, which is noise beside the command's own lines.
        logging.getLogger("bot.jobs").setLevel(logging.CRITICAL)
        logging.getLogger("httpx").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    load_dotenv_file(_env_file())
    # Before the parser: its one-line errors are the CLI's words too. The parser's own
    # (argparse's) stay English.
    use_environment_locale()
    args = _build_parser().parse_args(argv)
    try:
        if args.command in ("generate", "check", "backup", "migrate"):
            _quiet_logging()
        if args.command == "generate":
            return asyncio.run(_generate(args))
        if args.command == "check":
            from bot.check import run_check

            return asyncio.run(run_check(env_file=_env_file(), generate=args.generate))
        if args.command == "backup":
            from bot.backup import run_backup

            return run_backup(args.path)
        if args.command == "migrate":
            from bot.migrate import run_migrate

            return asyncio.run(run_migrate(args.to, args.source))
        return _run_bot()
    except ImagineError as exc:
        print(f"error: {render(advice_for(exc, CLI_ADVICE))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        interrupted = _("interrupted")
        print(f"error: {render(interrupted)}", file=sys.stderr)
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
