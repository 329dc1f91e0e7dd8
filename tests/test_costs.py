"""Costs in money: the price table, a job's estimate and cost, and the operator's PRICES_FILE."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.config import load_bot_settings
from bot.costs import DEFAULT_TABLE, estimate_line, load_prices, money, month_start
from bot.errors import ConfigError
from bot.i18n import render
from bot.types import Usage
from tests.fakes.discord import FakeDiscord
from tests.fakes.gateway import FakeGateway
from tests.processes import TOKEN, bot_environment, bot_process
from tests.test_config import COMPLETE

PRO = "gemini-3-pro-image-preview"


def test_the_default_table_has_the_published_prices() -> None:
    assert DEFAULT_TABLE.estimate(PRO, "4K", 4) == 0.96
    assert DEFAULT_TABLE.estimate(PRO, "2K") == 0.134
    assert DEFAULT_TABLE.estimate(PRO, None) == 0.134  # no size asked: 1K
    assert DEFAULT_TABLE.estimate("gemini-2.5-flash-image", None, 10) == 0.39
    assert DEFAULT_TABLE.estimate("gemini-3.1-flash-image-preview", "2K") == 0.101
    # A gateway's prefix is not part of the model's price.
    assert DEFAULT_TABLE.estimate("google/Gemini-3-Pro-Image-Preview", "4K") == 0.24
    assert DEFAULT_TABLE.estimate("somebody/else", "1K") is None
    assert DEFAULT_TABLE.price(PRO) is not None
    assert "ai.google.dev/gemini-api/docs/pricing" in DEFAULT_TABLE.source


def test_cost_by_reported_tokens_else_per_image_delivered() -> None:
    tokens = Usage(prompt_tokens=1000, completion_tokens=2000, total_tokens=3000)
    # 1000 x $2 + 2000 x $120 per million
    assert DEFAULT_TABLE.cost(PRO, "4K", images=1, usage=tokens) == 0.242
    # A total alone says nothing of input and output: priced per image delivered.
    total_only = Usage(total_tokens=1290)
    assert DEFAULT_TABLE.cost(PRO, "4K", images=3, usage=total_only) == 0.72
    assert DEFAULT_TABLE.cost(PRO, "2K", images=2, usage=None) == 0.268
    assert DEFAULT_TABLE.cost("unknown-model", "1K", images=1, usage=tokens) is None


def test_money_months_and_the_estimate_line() -> None:
    assert money(0.39) == "$0.39"
    assert money(1234.5) == "$1,234.50"
    now = datetime(2026, 3, 31, 23, 59, tzinfo=UTC).timestamp()
    assert month_start(now) == datetime(2026, 3, 1, tzinfo=UTC).timestamp()
    assert render(estimate_line(0.96, "4K", 4)) == "Estimated cost: about $0.96"
    assert render(estimate_line(0.27, "1K", 2)) == "Estimated cost: about $0.27"
    assert estimate_line(0.134, "2K", 1) is None  # cheap jobs say nothing
    assert estimate_line(None, "4K", 4) is None  # no price, no estimate


def test_prices_file_adds_and_overrides_models(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    own = {
        "source": "our gateway's price list, 2026-11-01",
        "models": {
            PRO: {"image": {"1K": 0.2, "4K": 0.3}},
            "my-model": {"output_per_million": 10, "input_per_million": 1},
        },
    }
    path.write_text(json.dumps(own))
    settings = load_bot_settings({**COMPLETE, "PRICES_FILE": str(path)})
    prices = settings.prices
    assert prices.estimate(PRO, "4K", 2) == 0.6
    assert prices.estimate(PRO, "2K") == 0.2  # a size not listed costs the 1K price
    assert prices.estimate("gemini-2.5-flash-image", None) == 0.039  # defaults kept
    usage = Usage(prompt_tokens=100_000, completion_tokens=100_000)
    assert prices.cost("my-model", None, images=1, usage=usage) == 1.1
    assert prices.estimate("my-model", None) is None  # tokens only: nothing to estimate
    assert load_bot_settings(COMPLETE).prices is DEFAULT_TABLE


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            "{not json",
            "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)",
        ),
        ("[]", 'it must be a JSON object with "models": {"<model id>": {...}}'),
        (
            '{"models": {"m": {"image": {"1K": "cheap"}}}}',
            "models.m.image.1K must be a number of dollars from 0 to 1000, got 'cheap'",
        ),
        (
            '{"models": {"m": {"image": {"8K": 1}}}}',
            "models.m.image: sizes are 1K, 2K, 4K, got 8K",
        ),
        ('{"models": {"m": {"per_image": 1}}}', "models.m has unknown key(s): per_image"),
        ('{"models": {"m": {}}}', "models.m needs an image price or output_per_million"),
        ('{"currency": "EUR", "models": {}}', 'prices are in USD: "currency" must be "USD"'),
    ],
)
def test_a_bad_prices_file_is_one_line_naming_it(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_bot_settings({**COMPLETE, "PRICES_FILE": str(path)})
    assert str(caught.value) == f"PRICES_FILE {path} is not a price table: {reason}"


def test_a_missing_prices_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.json"
    with pytest.raises(ConfigError) as caught:
        load_prices(str(path))
    assert str(caught.value) == f"PRICES_FILE {path} cannot be read (No such file or directory)"


async def test_python_m_bot_refuses_a_bad_prices_file_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"models": {"gemini-3-pro-image-preview": {"image": {"4K": -1}}}}')
    async with FakeDiscord.running(token=TOKEN) as fake, FakeGateway() as gw:
        env = bot_environment(fake, gw, tmp_path, PRICES_FILE=str(path))
        async with bot_process(env, tmp_path) as bot:
            status = await bot.process.wait()
            await bot.wait_for_line(r"^error: ")
    assert status == 1
    assert bot.lines == [
        f"error: PRICES_FILE {path} is not a price table: models.gemini-3-pro-image-preview"
        ".image.4K must be a number of dollars from 0 to 1000, got -1"
    ]
    assert fake.requests == []  # refused before Discord is asked anything
