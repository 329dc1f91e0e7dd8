"""What ``generate`` checks before the paid call: the image must have somewhere to go.

Every refusal here is an ``ImagineError`` whose sentence names the argument or file;
warnings are sentences the CLI prints as ``warning:`` lines and then goes on.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.errors import ConfigError, InputImageError, NotAnImage
from bot.i18n import Message, _
from bot.images.sniff import sniff_mime
from bot.jobs import check_prompt, supports_sizes
from bot.types import EXTREME_ASPECT_RATIOS

IMAGE_KINDS = "PNG, JPEG, WEBP, GIF or HEIC"
# The models known by name not to render the extreme ratios (only 3.1 Flash does).
_NO_EXTREME_RATIOS = ("gemini-3-pro-image",)
EXTREME_RATIO_MODEL = "gemini-3.1-flash-image-preview"


def check_text(name: Message, value: str | None) -> None:
    """Refuse an argument that is not valid UTF-8 (Python keeps such bytes as surrogates)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Translators: {name} names the argument ("the prompt", "--negative"); {place} is a number.
        raise ConfigError(
            _(
                "{name} is not valid UTF-8 text (a stray byte at character {place}); "
                "check the terminal's or the script's encoding",
                name=name,
                place=exc.start + 1,
            )
        ) from None


def check_generate_prompt(prompt: str) -> str:
    """The prompt, stripped; empty or whitespace-only is refused before anything is sent."""
    # Translators: fills {name} in "{name} is not valid UTF-8 text…".
    check_text(_("the prompt"), prompt)
    try:
        return check_prompt(prompt)
    except InputImageError:
        raise InputImageError(
            _("the prompt is empty; say what to draw (or, with --image, what to change)")
        ) from None


def writable_folder(out: str) -> Path:
    """The output folder, created if missing and proven writable by writing to it."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(
            _("--out {out} is a file, not a folder; give a folder to save images in", out=out)
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # access() says yes to root and no on some network mounts: a real write does not lie.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        # Translators: {reason} is the system's own words (English), e.g. "Permission denied".
        raise ConfigError(
            _(
                "cannot save images in the folder {out}: {reason}; choose another with --out",
                out=out,
                reason=exc.strerror or str(exc),
            )
        ) from exc
    return folder


def read_inputs(paths: Sequence[str]) -> list[bytes]:
    """Each ``--image`` read and recognised as an image, or an error naming the file."""
    images = []
    for path in paths:
        name = os.fsdecode(path)
        try:
            data = Path(path).read_bytes()
        except IsADirectoryError:
            raise InputImageError(_("{name} is a folder, not an image file", name=name)) from None
        except OSError as exc:
            # Translators: {reason} is the system's own words (English), e.g. "Permission denied".
            raise InputImageError(
                _("cannot read image {name}: {reason}", name=name, reason=exc.strerror or str(exc))
            ) from exc
        if sniff_mime(data) is None:
            raise NotAnImage(
                _(
                    "{name} is not an image I can read; use a {kinds} file",
                    name=name,
                    kinds=IMAGE_KINDS,
                )
            )
        images.append(data)
    return images


def option_warnings(model: str, size: str | None, ratio: str | None) -> list[Message]:
    """What the model or dialect will not honour; refuses a ratio the model cannot make."""
    name = model.strip().lower()
    if ratio in EXTREME_ASPECT_RATIOS and (
        not supports_sizes(model) or any(mark in name for mark in _NO_EXTREME_RATIOS)
    ):
        # Translators: {model} and {only} are model names, {ratio} an aspect ratio ("8:1").
        raise ConfigError(
            _(
                "{model} cannot make {ratio} images; only {only} does "
                "(use --model {only}, or another --aspect-ratio)",
                model=model,
                ratio=ratio,
                only=EXTREME_RATIO_MODEL,
            )
        )
    warnings: list[Message] = []
    if size and size != "1K" and not supports_sizes(model):
        # Translators: {model} is a model name, {size} "2K" or "4K"; keep 1K, 2K, 4K as they are.
        warnings.append(
            _(
                "{model} makes 1K images only; --size {size} is sent as asked, but expect 1K "
                "(use --model gemini-3-pro-image-preview for 2K or 4K)",
                model=model,
                size=size,
            )
        )
    return warnings
