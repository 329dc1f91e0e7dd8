"""Values an admin can type into /settings: what is accepted, what is refused and why."""

from __future__ import annotations

import pytest

from bot.errors import UnsafeGatewayURL
from bot.guild_settings import (
    GatewayChoice,
    InvalidSetting,
    check_limits,
    choose_gateway,
    validate_api_key,
    validate_gateway_url,
    validate_model_name,
)
from bot.storage.base import GuildSettings


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
        ("  HTTPS://Gateway.Example.com/v1/ ", "https://Gateway.Example.com/v1"),
        ("http://8.8.8.8:8080/v1", "http://8.8.8.8:8080/v1"),
        ("https://[2001:4860:4860::8888]/v1", "https://[2001:4860:4860::8888]/v1"),
    ],
)
def test_public_urls_are_accepted_and_normalised(raw: str, expected: str) -> None:
    assert validate_gateway_url(raw, allow_private=False) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://api.localhost/v1",
        "http://10.0.0.5/v1",
        "http://192.168.1.1/v1",
        "http://172.16.3.4/v1",
        "http://169.254.169.254/latest",
        "http://metadata.google.internal/computeMetadata",
        "http://[::1]/v1",
        "http://[fe80::1]/v1",
        "http://[::ffff:127.0.0.1]/v1",
        "http://0.0.0.0/v1",
        "http://100.64.0.1/v1",
        "http://2130706433/v1",  # 127.0.0.1 as one decimal number
        "http://0x7f.1/v1",  # 127.0.0.1 in inet_aton shorthand
        "http://127.1/v1",
    ],
)
def test_private_and_local_addresses_are_refused(raw: str) -> None:
    with pytest.raises(UnsafeGatewayURL):
        validate_gateway_url(raw, allow_private=False)


def test_operator_may_allow_private_gateways() -> None:
    assert (
        validate_gateway_url("http://127.0.0.1:9/v1", allow_private=True) == "http://127.0.0.1:9/v1"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "base URL"),
        ("ftp://example.com", "https://"),
        ("example.com/v1", "https://"),
        ("https://user:pw@example.com/v1", "credentials"),
        ("https://example.com/v1?key=abc", "query"),
        ("https:///v1", "no host"),
        ("https://example.com:99999/v1", "not a valid URL"),
        ("https://" + "a" * 600 + ".com", "too long"),
    ],
)
def test_malformed_urls_say_what_is_wrong(raw: str, reason: str) -> None:
    with pytest.raises(InvalidSetting, match=reason):
        validate_gateway_url(raw, allow_private=True)


def test_model_names() -> None:
    assert validate_model_name(" google/gemini-2.5-flash-image ") == "google/gemini-2.5-flash-image"
    assert validate_model_name("Default") is None
    for bad in ("", "   ", "two words", "x" * 201):
        with pytest.raises(InvalidSetting):
            validate_model_name(bad)


def test_api_key_errors_never_contain_the_key() -> None:
    assert validate_api_key("  sk-abc123 \n") == "sk-abc123"
    for bad in ("", "sk-abc def", "k" * 1001):
        with pytest.raises(InvalidSetting) as caught:
            validate_api_key(bad)
        assert not bad.strip() or bad.strip() not in str(caught.value)


def test_limit_combinations() -> None:
    check_limits(
        user_jobs=2,
        server_jobs=10,
        user_hourly=5,
        user_daily=20,
        server_hourly=None,
        server_daily=50,
    )
    with pytest.raises(
        InvalidSetting, match="per member .3. cannot be more than jobs per server .2."
    ):
        check_limits(
            user_jobs=3,
            server_jobs=2,
            user_hourly=None,
            user_daily=None,
            server_hourly=None,
            server_daily=None,
        )
    with pytest.raises(InvalidSetting, match="hourly quota per server"):
        check_limits(
            user_jobs=1,
            server_jobs=2,
            user_hourly=None,
            user_daily=None,
            server_hourly=9,
            server_daily=8,
        )


OWN = GuildSettings(
    guild_id=1,
    gateway_base_url="https://gw.example/v1",
    gateway_dialect="flat",
    gateway_stream="off",
    gateway_key_encrypted=b"sealed",
)


def _choose(current: GuildSettings, **options: str | None) -> GatewayChoice:
    given: dict[str, str | None] = {"url": None, "dialect": None, "stream": None, **options}
    return choose_gateway(current, **given, allow_private=False, bot_stream="on")


def test_the_key_form_opens_unless_only_the_stream_changes_and_a_key_is_kept() -> None:
    url = "https://gw.example/v1"
    assert _choose(OWN, stream="on") == GatewayChoice(url, "flat", "on", True, asks_key=False)
    assert _choose(OWN, stream="default") == GatewayChoice(url, "flat", None, True, False)
    # With the url or the dialect given, the form opens (empty keeps the key) as before.
    assert _choose(OWN, url=url, stream="on").asks_key
    assert _choose(OWN, dialect="plain", stream="on").asks_key
    # An address without a key (it could not be re-encrypted) has to be given one.
    keyless = _choose(GuildSettings(guild_id=1, gateway_base_url=url), stream="on")
    assert (keyless.asks_key, keyless.may_keep_key) == (True, False)
    # "default" is "follow the bot", not "keep": with a url it drops the stored mode too.
    assert _choose(OWN, url=url, stream="default").stream is None
    assert _choose(OWN, url=url).stream == "off"
