from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.errors import ConfigError
from bot.secrets import KeyBox, SecretRedactingFilter, redact

SECRET = "a-long-operator-secret-key-0001"
API_KEY = "sk-or-v1-5f0c2e9a7b3d4c1e8f6a2b9c0d7e3f1a"


@pytest.fixture(scope="module")
def box() -> KeyBox:
    return KeyBox(SECRET)


def test_round_trip(box: KeyBox) -> None:
    token = box.encrypt(API_KEY)
    assert isinstance(token, bytes)
    assert box.decrypt(token) == API_KEY
    assert box.encrypt(API_KEY) != token  # fresh IV each time


def test_ciphertext_contains_neither_key(box: KeyBox) -> None:
    token = box.encrypt(API_KEY)
    for needle in (API_KEY, SECRET, API_KEY[10:30], SECRET[5:20]):
        assert needle.encode() not in token
    assert SECRET not in repr(box)


def test_changed_secret_key_is_a_config_error(box: KeyBox) -> None:
    token = box.encrypt(API_KEY)
    with pytest.raises(ConfigError, match="SECRET_KEY has changed") as info:
        KeyBox(SECRET + "-rotated").decrypt(token)
    assert API_KEY not in str(info.value)
    with pytest.raises(ConfigError):
        box.decrypt(b"garbage")


def test_a_previous_secret_key_still_decrypts_and_rotate_moves_to_the_new_one(
    box: KeyBox,
) -> None:
    old_token = box.encrypt(API_KEY)
    moving = KeyBox(SECRET + "-new", previous=[SECRET])
    assert moving.rotating
    assert moving.decrypt(old_token) == API_KEY
    new_token = moving.rotate(old_token)
    assert KeyBox(SECRET + "-new").decrypt(new_token) == API_KEY  # the old key is not needed
    with pytest.raises(ConfigError, match="SECRET_KEY_PREVIOUS"):
        KeyBox(SECRET + "-other").rotate(old_token)
    with pytest.raises(ConfigError, match="SECRET_KEY_PREVIOUS must be at least 16"):
        KeyBox(SECRET, previous=["short"])


@pytest.mark.parametrize("short", ["", "short", "fifteen-chars!!", "   padded-15ch   "])
def test_short_secret_key_is_refused(short: str) -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        KeyBox(short)


def test_redact_known_secrets_and_credential_shapes() -> None:
    bot_token = "MTA1NjE2NjU0NDkyMzc5NDQ0OA.GkY2cd.Zx9yQw8vRt7uIo6pLk5jHg4fDs3aA2qW1eE0"
    text = (
        f"key={API_KEY} custom=my-own-gateway-key-77 auth='Bearer abcdef123456' "
        f"Authorization: Bot {bot_token} google=AIzaSyA1b2C3d4E5f6G7h8I9j0KkLlMmNnOoPpQ"
    )
    out = redact(text, ["my-own-gateway-key-77", ""])
    for leaked in (API_KEY, "my-own-gateway-key-77", "abcdef123456", bot_token, "AIzaSyA1b2C3"):
        assert leaked not in out
    assert "Bearer [REDACTED]" in out
    assert (
        redact("an ordinary line about 16:9 images", ["abc"])
        == "an ordinary line about 16:9 images"
    )


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    handler.addFilter(SecretRedactingFilter(lambda: ["per-server-key-XYZ"]))
    parent = logging.getLogger("redaction-test")
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    try:
        # a child logger: its records reach the parent's handler by propagation
        yield logging.getLogger("redaction-test.child"), stream
    finally:
        parent.removeHandler(handler)


def test_filter_scrubs_message_and_args(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = captured
    log.debug(
        "sending %s to %s with headers %r",
        "prompt",
        "https://gw",
        {"Authorization": f"Bearer {API_KEY}"},
    )
    log.info("guild key is per-server-key-XYZ")
    out = stream.getvalue()
    assert API_KEY not in out and "per-server-key-XYZ" not in out
    assert "sending prompt to https://gw" in out
    assert out.count("[REDACTED]") == 2


def test_filter_scrubs_exception_text(captured: tuple[logging.Logger, io.StringIO]) -> None:
    log, stream = captured
    try:
        raise RuntimeError(f"gateway said: invalid key per-server-key-XYZ ({API_KEY})")
    except RuntimeError:
        log.exception("request failed for %s", "per-server-key-XYZ")
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError: gateway said: invalid key [REDACTED]" in out
    assert "per-server-key-XYZ" not in out and API_KEY not in out


def test_filter_survives_formatters_that_rerender_exc_info(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, _ = captured
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keeper = Keep()
    keeper.addFilter(SecretRedactingFilter(list))
    log.addHandler(keeper)
    try:
        try:
            raise ValueError(API_KEY)
        except ValueError:
            log.exception("boom")
    finally:
        log.removeHandler(keeper)
    (record,) = records
    # discord.py's colour formatter calls formatException(record.exc_info) itself
    assert record.exc_info is None
    assert API_KEY not in logging.Formatter().format(record)
    assert "ValueError: [REDACTED]" in logging.Formatter().format(record)


def test_filter_keeps_bad_format_args_readable(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    log, stream = captured
    # wrong count: logging would raise at format time
    log.warning("two args %s %s", API_KEY)  # noqa: PLE1206
    out = stream.getvalue()
    assert API_KEY not in out and "two args" in out
