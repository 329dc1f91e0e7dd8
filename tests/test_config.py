"""Settings: defaults, one clear line per missing or bad variable."""

from __future__ import annotations

import pytest

from bot.config import (
    DEFAULT_DATABASE_URL,
    OperatorQuotas,
    load_bot_settings,
    load_image_settings,
)
from bot.errors import ConfigError

COMPLETE = {
    "DISCORD_TOKEN": "token-value",
    "SECRET_KEY": "a-secret-key-long-enough",
    "IMAGE_API_BASE_URL": "http://127.0.0.1:9/v1",
    "IMAGE_API_KEY": "gateway-key",
}


def test_complete_environment_gives_defaults_for_the_rest():
    settings = load_bot_settings(COMPLETE)
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert settings.dev_guild_id is None
    assert settings.image.dialect == "auto"
    assert settings.image.stream == "auto" and settings.image.gateway().stream == "auto"
    assert settings.image.model == "gemini-2.5-flash-image"
    assert settings.image.max_image_bytes == 7_000_000
    assert settings.image.max_request_bytes == 20 * 1024 * 1024
    assert settings.image.allow_private_gateways is False
    assert settings.job_retention_days == 30
    assert settings.instance_name == "default"
    assert load_bot_settings({**COMPLETE, "INSTANCE_NAME": "shard-1.eu_2"}).instance_name == (
        "shard-1.eu_2"
    )
    assert settings.previous_secret_key is None
    rotating = load_bot_settings({**COMPLETE, "SECRET_KEY_PREVIOUS": "the-old-secret-key-1"})
    assert rotating.previous_secret_key == "the-old-secret-key-1"
    assert "the-old-secret-key-1" not in repr(rotating)


@pytest.mark.parametrize("missing", sorted(COMPLETE))
def test_each_missing_required_setting_is_named(missing):
    env = {k: v for k, v in COMPLETE.items() if k != missing}
    with pytest.raises(ConfigError) as caught:
        load_bot_settings(env)
    assert str(caught.value) == f"{missing} is not set (see .env.example)"


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("IMAGE_API_DIALECT", "soap", "IMAGE_API_DIALECT must be one of"),
        ("IMAGE_API_STREAM", "yes", "IMAGE_API_STREAM must be one of auto, on, off, got 'yes'"),
        ("DEV_GUILD_ID", "my-server", "DEV_GUILD_ID must be a server id"),
        ("IMAGE_API_TIMEOUT", "soon", "IMAGE_API_TIMEOUT must be a number"),
        ("IMAGE_API_TIMEOUT", "-1", "IMAGE_API_TIMEOUT must be positive"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL must be"),
        ("ALLOW_PRIVATE_GATEWAYS", "maybe", "ALLOW_PRIVATE_GATEWAYS must be true or false"),
        ("JOB_RETENTION_DAYS", "forever", "JOB_RETENTION_DAYS must be a number"),
        ("JOB_RETENTION_DAYS", "nan", "JOB_RETENTION_DAYS must be a number"),
        ("IMAGE_API_TIMEOUT", "inf", "IMAGE_API_TIMEOUT must be a number"),
        ("JOB_RETENTION_DAYS", "0.5", "JOB_RETENTION_DAYS must be at least 1: daily quotas"),
        ("INSTANCE_NAME", "my bot", "INSTANCE_NAME must be 1 to 64 letters, digits"),
        ("INSTANCE_NAME", "x" * 65, "INSTANCE_NAME must be 1 to 64"),
        ("INSTANCE_NAME", "bot/1", "INSTANCE_NAME must be"),
    ],
)
def test_bad_values_are_explained(name, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_bot_settings({**COMPLETE, name: value})


def test_secrets_do_not_appear_in_repr():
    settings = load_bot_settings(COMPLETE)
    text = repr(settings)
    for secret in ("token-value", "a-secret-key-long-enough", "gateway-key"):
        assert secret not in text


def test_image_settings_alone_need_no_discord_token():
    image = load_image_settings(
        {"IMAGE_API_BASE_URL": "http://x/v1", "IMAGE_API_KEY": "k", "IMAGE_API_DIALECT": "GOOGLE"}
    )
    assert image.gateway().dialect == "google"


@pytest.mark.parametrize("value", ["on", "OFF", " auto "])
def test_stream_mode_reaches_the_gateway(value):
    image = load_image_settings(
        {"IMAGE_API_BASE_URL": "http://x/v1", "IMAGE_API_KEY": "k", "IMAGE_API_STREAM": value}
    )
    assert image.stream == image.gateway().stream == value.strip().lower()


def test_every_missing_setting_is_named_in_one_line():
    with pytest.raises(ConfigError) as caught:
        load_bot_settings({"IMAGE_API_KEY": "k"})
    assert str(caught.value) == (
        "DISCORD_TOKEN, IMAGE_API_BASE_URL, SECRET_KEY are not set (see .env.example)"
    )


def test_allowed_guilds_and_operator_quotas():
    settings = load_bot_settings(COMPLETE)
    assert settings.allowed_guilds is None and settings.quotas == OperatorQuotas()
    settings = load_bot_settings(
        {
            **COMPLETE,
            "ALLOWED_GUILDS": " 111, 222 ,",
            "DEV_GUILD_ID": "222",
            "DEFAULT_USER_HOURLY": "5",
            "DEFAULT_USER_DAILY": "20",
            "DEFAULT_SERVER_HOURLY": "0",  # 0: no cap, as /settings limits reads it
            "DEFAULT_SERVER_DAILY": "300",
        }
    )
    assert settings.allowed_guilds == frozenset({111, 222})
    assert settings.quotas == OperatorQuotas(
        user_hourly=5, user_daily=20, guild_hourly=None, guild_daily=300
    )


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"ALLOWED_GUILDS": "111, my server"},
            "ALLOWED_GUILDS must be server ids (digits) separated by commas, got '111, my server'",
        ),
        (
            {"ALLOWED_GUILDS": "1²"},
            "ALLOWED_GUILDS must be server ids (digits) separated by commas, got '1²'",
        ),
        ({"DEV_GUILD_ID": "²"}, "DEV_GUILD_ID must be a server id (digits), got '²'"),
        (
            {"DEFAULT_USER_DAILY": "²"},
            "DEFAULT_USER_DAILY must be a whole number from 0 (no cap) to 100000, got '²'",
        ),
        (
            {"ALLOWED_GUILDS": "111", "DEV_GUILD_ID": "222"},
            "DEV_GUILD_ID 222 is not in ALLOWED_GUILDS: the bot would leave that server",
        ),
        (
            {"DEFAULT_USER_DAILY": "-3"},
            "DEFAULT_USER_DAILY must be a whole number from 0 (no cap) to 100000, got '-3'",
        ),
        (
            {"DEFAULT_SERVER_HOURLY": "lots"},
            "DEFAULT_SERVER_HOURLY must be a whole number from 0 (no cap) to 10000, got 'lots'",
        ),
        (
            {"DEFAULT_SERVER_HOURLY": "50", "DEFAULT_SERVER_DAILY": "10"},
            "DEFAULT_SERVER_HOURLY (50) cannot be more than DEFAULT_SERVER_DAILY (10)",
        ),
    ],
)
def test_bad_cost_settings_are_one_line(env, line):
    with pytest.raises(ConfigError) as caught:
        load_bot_settings({**COMPLETE, **env})
    assert str(caught.value) == line


@pytest.mark.parametrize("value", ["abc\ndef", "abc\rdef", "abc\x00def", "abcdéf"])
def test_secrets_that_cannot_be_an_http_header_are_refused_at_start(value):
    with pytest.raises(ConfigError) as caught:
        load_bot_settings({**COMPLETE, "DISCORD_TOKEN": value})
    assert str(caught.value) == (
        "DISCORD_TOKEN contains a line break or a non-ASCII character; "
        "paste it again from the Developer Portal"
    )
    image = load_bot_settings({**COMPLETE, "IMAGE_API_KEY": value}).image
    with pytest.raises(ConfigError) as caught:
        image.gateway()  # what the bot's start-up and the CLI call before any request
    assert str(caught.value) == (
        "IMAGE_API_KEY contains a line break or a non-ASCII character; "
        "paste it again from the gateway's dashboard"
    )
