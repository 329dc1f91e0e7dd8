"""Whether a gateway delivered the size and aspect ratio that were asked for.

Gateways often drop ``image_size`` / ``aspect_ratio`` silently (a dialect they do not
speak, a proxy that strips unknown fields), and the member gets a 1024×1024 square
for a 4K 16:9 request. Gemini's published pixel sizes differ per model (2.5 Flash 16:9
at 1K is 1344×768, 3 Pro 1376×768; 2K and 4K are 2x and 4x) and may change, so the
check compares classes, not exact dimensions:

- size: the pixel count's nearest class on a log scale (0.5K ≈ 0.25, 1K ≈ 1, 2K ≈ 4,
  4K ≈ 16 megapixels); the boundaries sit at a factor of two between classes;
- ratio: within ``RATIO_TOLERANCE`` of the asked ratio, and no other ratio the models
  offer is nearer (4:5 and 3:4 are only 6.5% apart).

Only what was asked is checked: an edit that asked no ratio keeps its input's. A dialect
that has no field for them (``plain``) never asked the gateway at all: what came back
is then put down to the dialect (``UnsentSize``), not held against the gateway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Message, _
from bot.types import ASPECT_RATIOS, EXTREME_ASPECT_RATIOS, IMAGE_SIZES

# 3.1 Flash also renders 0.5K; the bot does not offer it, but a gateway may send it.
SIZE_CLASSES = ("0.5K", *IMAGE_SIZES)
# log4 of each class's pixel count in units of 1024²: 0.25, 1, 4 and 16 "megapixels".
_SIZE_EXPONENT = {"0.5K": -1, "1K": 0, "2K": 1, "4K": 2}
_UNIT_PIXELS = 1024 * 1024
# The published tables stray up to 2.8% from the nominal ratio (2.5 Flash 4:5 is 896×1152).
RATIO_TOLERANCE = 0.04
KNOWN_RATIOS = ASPECT_RATIOS + EXTREME_ASPECT_RATIOS
# What a gateway that ignores the request sends anyway: asking for it tells nothing.
DEFAULT_SIZE = "1K"
DEFAULT_RATIO = "1:1"


@dataclass(frozen=True)
class SizeCheck:
    """The verdict on one result; ``None`` means that part was not asked for."""

    size_honoured: bool | None = None
    ratio_honoured: bool | None = None
    note: Message | None = None  # one sentence for the member, only when something was ignored
    asked: str = ""  # "4K 16:9", "16:9", "4K"; empty when nothing was asked
    delivered: str = ""  # "1024×1024", the first mismatching image's (else the first's)

    @property
    def ignored(self) -> bool:
        return self.size_honoured is False or self.ratio_honoured is False

    @property
    def telling(self) -> bool:
        """Worth remembering: ignored, or honoured where ignoring would have shown."""
        if self.ignored:
            return True
        parts = self.asked.split()
        return any(p not in (DEFAULT_SIZE, DEFAULT_RATIO) for p in parts)


@dataclass(frozen=True)
class UnsentSize:
    """A size or ratio the dialect had no field for, and what the gateway made without it."""

    dialect: str
    asked: str  # "4K 16:9"
    delivered: str  # "1024×1024"

    def note(self, fix: Message) -> Message:
        """One sentence for the reader; ``fix`` says where another dialect is chosen."""
        # Translators: {dialect} is a gateway dialect's name (openai, google); {asked} a
        # size and ratio (4K 16:9); {delivered} pixels (1024×1024); {fix} the clause that
        # ends the sentence, saying who can pick another dialect and where.
        return _(
            "The `{dialect}` dialect cannot ask for {asked}, so the gateway made {delivered}; "
            "{fix}.",
            dialect=self.dialect,
            asked=self.asked,
            delivered=self.delivered,
            fix=fix,
        )


def unsent_size(check: SizeCheck, dialect: str) -> UnsentSize | None:
    """The check of an ask the dialect could not send; None when the result met it anyway."""
    if not check.ignored:
        return None
    return UnsentSize(dialect=dialect, asked=check.asked, delivered=check.delivered)


def _ratio_value(ratio: str) -> float:
    w, _colon, h = ratio.partition(":")
    return int(w) / int(h)


_RATIO_VALUES = {r: _ratio_value(r) for r in KNOWN_RATIOS}


def size_class(width: int, height: int) -> str | None:
    """The nearest of 0.5K/1K/2K/4K by pixel count; None for something far below 0.5K."""
    # floor(x + 0.5), not round(): banker's rounding would put 2 Mpx in 1K but 32 Mpx in 4K.
    exponent = math.floor(math.log(width * height / _UNIT_PIXELS, 4) + 0.5)
    if exponent < _SIZE_EXPONENT["0.5K"]:
        return None
    return next(
        (name for name, e in _SIZE_EXPONENT.items() if e == exponent),
        SIZE_CLASSES[-1],  # above 4K's range: still "4K or more"
    )


def _log_distance(a: float, b: float) -> float:
    return abs(math.log(a / b))


def ratio_matches(ratio: str, width: int, height: int) -> bool:
    """Within the tolerance of ``ratio``, and no other offered ratio is nearer."""
    asked = _RATIO_VALUES.get(ratio) or _ratio_value(ratio)
    got = width / height
    distance = _log_distance(got, asked)
    if distance > math.log1p(RATIO_TOLERANCE):
        return False
    return all(_log_distance(got, v) >= distance for v in _RATIO_VALUES.values())


def dimensions(width: int, height: int) -> str:
    return f"{width}×{height}"


def describe_ask(size: str | None, ratio: str | None) -> str:
    return " ".join(p for p in (size, ratio) if p)


def _verdict(
    size: str | None, ratio: str | None, width: int, height: int
) -> tuple[bool | None, bool | None]:
    size_ok = None if size is None else size_class(width, height) == size
    ratio_ok = None if ratio is None else ratio_matches(ratio, width, height)
    return size_ok, ratio_ok


def check_delivered(
    asked_size: str | None, asked_ratio: str | None, width: int, height: int
) -> SizeCheck:
    """One image against the ask."""
    return check_images(asked_size, asked_ratio, [(width, height)])


def check_images(
    asked_size: str | None, asked_ratio: str | None, sizes: Sequence[tuple[int, int]]
) -> SizeCheck:
    """Every image of a result against the ask; one note at most, naming the first miss."""
    asked = describe_ask(asked_size, asked_ratio)
    usable = [(w, h) for w, h in sizes if w > 0 and h > 0]
    if not asked or not usable:
        return SizeCheck(asked=asked)
    verdicts = [_verdict(asked_size, asked_ratio, w, h) for w, h in usable]
    missed = [i for i, v in enumerate(verdicts) if False in v]
    first = missed[0] if missed else 0
    size_ok, ratio_ok = verdicts[first]
    delivered = dimensions(*usable[first])
    note = None
    if missed:
        # Translators: {asked} is a size and ratio (4K 16:9), {delivered} pixels (1024×1024).
        note = (
            _(
                "Asked for {asked}, the gateway returned {delivered} for {missed} of {n} images.",
                asked=asked,
                delivered=delivered,
                missed=len(missed),
                n=len(usable),
            )
            if len(usable) > 1
            else _(
                "Asked for {asked}, the gateway returned {delivered}.",
                asked=asked,
                delivered=delivered,
            )
        )
    return SizeCheck(
        size_honoured=size_ok,
        ratio_honoured=ratio_ok,
        note=note,
        asked=asked,
        delivered=delivered,
    )
