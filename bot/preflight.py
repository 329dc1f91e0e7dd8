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
from bot.images.sniff import sniff_mime
from bot.jobs import check_prompt, supports_sizes
from bot.types import EXTREME_ASPECT_RATIOS

IMAGE_KINDS = "PNG, JPEG, WEBP, GIF or HEIC"
# The models known by name not to render the extreme ratios (only 3.1 Flash does).
_NO_EXTREME_RATIOS = ("gemini-3-pro-image",)
EXTREME_RATIO_MODEL = "gemini-3.1-flash-image-preview"


def check_text(name: str, value: str | None) -> None:
    """Refuse an argument that is not valid UTF-8 (Python keeps such bytes as surrogates)."""
    if value is None:
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigError(
            f"{name} is not valid UTF-8 text (a stray byte at character {exc.start + 1}); "
            "check the terminal's or the script's encoding"
        ) from None


def check_generate_prompt(prompt: str) -> str:
    """The prompt, stripped; empty or whitespace-only is refused before anything is sent."""
    check_text("the prompt", prompt)
    try:
        return check_prompt(prompt)
    except InputImageError:
        raise InputImageError(
            "the prompt is empty; say what to draw (or, with --image, what to change)"
        ) from None


def writable_folder(out: str) -> Path:
    """The output folder, created if missing and proven writable by writing to it."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--out {out} is a file, not a folder; give a folder to save images in")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # access() says yes to root and no on some network mounts: a real write does not lie.
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise ConfigError(
            f"cannot save images in the folder {out}: {exc.strerror or exc}; "
            "choose another with --out"
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
            raise InputImageError(f"{name} is a folder, not an image file") from None
        except OSError as exc:
            raise InputImageError(f"cannot read image {name}: {exc.strerror or exc}") from exc
        if sniff_mime(data) is None:
            raise NotAnImage(f"{name} is not an image I can read; use a {IMAGE_KINDS} file")
        images.append(data)
    return images


def option_warnings(model: str, size: str | None, ratio: str | None) -> list[str]:
    """What the model or dialect will not honour; refuses a ratio the model cannot make."""
    name = model.strip().lower()
    if ratio in EXTREME_ASPECT_RATIOS and (
        not supports_sizes(model) or any(mark in name for mark in _NO_EXTREME_RATIOS)
    ):
        raise ConfigError(
            f"{model} cannot make {ratio} images; only {EXTREME_RATIO_MODEL} does "
            f"(use --model {EXTREME_RATIO_MODEL}, or another --aspect-ratio)"
        )
    warnings = []
    if size and size != "1K" and not supports_sizes(model):
        warnings.append(
            f"{model} makes 1K images only; --size {size} is sent as asked, but expect 1K "
            "(use --model gemini-3-pro-image-preview for 2K or 4K)"
        )
    return warnings
