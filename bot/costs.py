"""Costs in money: the price table (``bot.prices``, or the operator's PRICES_FILE), what a
job is estimated to cost before the gateway is called and what it cost once it ended.

Amounts are US dollars (``CURRENCY``) as floats, rounded to a millionth of a dollar;
a model the table does not know has no price (None), and counts as nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from bot.i18n import Message, _
from bot.limits import is_amount
from bot.prices import CURRENCY, DEFAULT_PRICES
from bot.types import IMAGE_SIZES, Usage

__all__ = [
    "CURRENCY",
    "ModelPrice",
    "PriceTable",
    "estimate_line",
    "load_prices",
    "money",
    "month_start",
    "parse_prices",
]

# The default size when none is asked: what every Gemini image model makes then.
DEFAULT_SIZE = "1K"
# The sizes worth an estimate on the progress message (with any count above 1).
COSTLY_SIZES = ("4K",)
# The highest price the table accepts for one image or a million tokens: anything above
# is a typo (cents written as dollars), not a price.
MAX_PRICE = 1000.0


def _round(amount: float) -> float:
    return round(amount, 6)


def money(amount: float) -> str:
    """``$0.39``: dollars and cents, as every member and admin reads an amount."""
    return f"${amount:,.2f}"


def month_start(now: float) -> float:
    """The first second of ``now``'s calendar month (UTC): where a monthly budget begins."""
    day = datetime.fromtimestamp(now, UTC)
    return datetime(day.year, day.month, 1, tzinfo=UTC).timestamp()


@dataclass(frozen=True)
class ModelPrice:
    """One model's prices: per image by size, and per million tokens (None: not known)."""

    image: Mapping[str, float] = field(default_factory=dict)
    input_per_million: float | None = None
    output_per_million: float | None = None

    def per_image(self, size: str | None) -> float | None:
        """The price of one image at ``size`` (None: 1K); the 1K price for a size not listed."""
        size = size or DEFAULT_SIZE
        return self.image.get(size, self.image.get(DEFAULT_SIZE))


@dataclass(frozen=True)
class PriceTable:
    models: Mapping[str, ModelPrice] = field(default_factory=dict)
    source: str = ""

    def price(self, model: str) -> ModelPrice | None:
        """The model's prices, by its id or by the id after a gateway's prefix
        (``google/gemini-3-pro-image-preview`` on OpenRouter)."""
        name = model.strip().lower()
        found = self.models.get(name)
        if found is None and "/" in name:
            found = self.models.get(name.rsplit("/", 1)[1])
        return found

    def estimate(self, model: str, size: str | None, count: int = 1) -> float | None:
        """Before the gateway is called: ``count`` images at the asked size."""
        price = self.price(model)
        each = price.per_image(size) if price is not None else None
        return None if each is None else _round(each * count)

    def cost(
        self, model: str, size: str | None, *, images: int, usage: Usage | None
    ) -> float | None:
        """Once the job ended: by the tokens the gateway reported, else per image delivered."""
        price = self.price(model)
        if price is None:
            return None
        if (
            usage is not None
            and usage.completion_tokens is not None
            and price.output_per_million is not None
        ):
            spent = usage.completion_tokens * price.output_per_million
            spent += (usage.prompt_tokens or 0) * (price.input_per_million or 0.0)
            return _round(spent / 1_000_000)
        each = price.per_image(size)
        return None if each is None else _round(each * images)


def estimate_line(estimate: float | None, size: str | None, count: int) -> Message | None:
    """The progress message's estimate, for the jobs that cost most (4K, or count > 1)."""
    if estimate is None or (count <= 1 and size not in COSTLY_SIZES):
        return None
    # Translators: {cost} is an amount of money ($0.96).
    return _("Estimated cost: about {cost}", cost=money(estimate))


def _price(where: str, value: Any) -> float:
    if not is_amount(value, MAX_PRICE):
        raise ValueError(
            f"{where} must be a number of dollars from 0 to {MAX_PRICE:g}, got {value!r}"
        )
    return float(value)


def _model_price(name: str, entry: Any) -> ModelPrice:
    if not isinstance(entry, Mapping):
        raise ValueError(f"models.{name} must be an object")
    unknown = sorted(set(entry) - {"image", "input_per_million", "output_per_million"})
    if unknown:
        raise ValueError(f"models.{name} has unknown key(s): {', '.join(unknown)}")
    images = entry.get("image", {})
    if not isinstance(images, Mapping):
        raise ValueError(f"models.{name}.image must be an object of size: price")
    bad = sorted(set(images) - set(IMAGE_SIZES))
    if bad:
        raise ValueError(
            f"models.{name}.image: sizes are {', '.join(IMAGE_SIZES)}, got {', '.join(bad)}"
        )
    tokens = {
        key: _price(f"models.{name}.{key}", entry[key])
        for key in ("input_per_million", "output_per_million")
        if entry.get(key) is not None
    }
    if not images and "output_per_million" not in tokens:
        raise ValueError(f"models.{name} needs an image price or output_per_million")
    return ModelPrice(
        image={size: _price(f"models.{name}.image.{size}", p) for size, p in images.items()},
        **tokens,
    )


def parse_prices(document: Any) -> PriceTable:
    """A table from its JSON shape (``bot.prices.DEFAULT_PRICES``); ValueError says why not."""
    if not isinstance(document, Mapping) or not isinstance(document.get("models"), Mapping):
        raise ValueError('it must be a JSON object with "models": {"<model id>": {...}}')
    currency = document.get("currency", CURRENCY)
    if currency != CURRENCY:
        raise ValueError(f'prices are in {CURRENCY}: "currency" must be "{CURRENCY}"')
    models = {
        str(name).strip().lower(): _model_price(str(name), entry)
        for name, entry in document["models"].items()
    }
    return PriceTable(models=models, source=str(document.get("source", "")))


DEFAULT_TABLE = parse_prices(DEFAULT_PRICES)


def load_prices(path: str | None) -> PriceTable:
    """The default table, with the models of the operator's file (PRICES_FILE) over it."""
    if not path:
        return DEFAULT_TABLE
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
        own = parse_prices(document)
    except OSError as exc:
        raise ConfigError(f"PRICES_FILE {path} cannot be read ({exc.strerror or exc})") from exc
    except ValueError as exc:  # JSONDecodeError is one
        raise ConfigError(f"PRICES_FILE {path} is not a price table: {exc}") from exc
    return PriceTable(models={**DEFAULT_TABLE.models, **own.models}, source=own.source)
