"""Which languages ship, how a Discord or POSIX locale finds one, and the locale in effect."""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

DEFAULT_LOCALE = "en-US"

# Discord's codes (``interaction.locale``, ``guild.preferred_locale``) mapped to the
# catalog folder under bot/locales/ (gettext's names). English needs no catalog.
SUPPORTED_LOCALES: dict[str, str] = {
    "zh-CN": "zh_CN",
    "zh-TW": "zh_TW",
    "ja": "ja",
    "ko": "ko",
    "es-ES": "es_ES",
    "pt-BR": "pt_BR",
    "fr": "fr",
    "de": "de",
    "ru": "ru",
    "id": "id",
    "vi": "vi",
    "tr": "tr",
}

# A locale we have no catalog for, but a language we speak: Latin-American Spanish reads
# Spain's Spanish better than English; Hong Kong and Macau read traditional characters.
_NEAREST: dict[str, str] = {
    "es": "es-ES",
    "es-419": "es-ES",
    "pt": "pt-BR",
    "zh": "zh-CN",
    "zh-HK": "zh-TW",
    "zh-MO": "zh-TW",
    "zh-SG": "zh-CN",
    "zh-Hans": "zh-CN",
    "zh-Hant": "zh-TW",
}

# Every name ``supported`` knows, lower case (BCP 47 and POSIX differ in case only).
_BY_LOWER_NAME = {
    **{near.lower(): known for near, known in _NEAREST.items()},
    **{known.lower(): known for known in SUPPORTED_LOCALES},
}

_current: contextvars.ContextVar[str] = contextvars.ContextVar("locale", default=DEFAULT_LOCALE)


def supported(locale: object) -> str:
    """The shipped Discord code nearest ``locale`` (a Discord, BCP 47 or POSIX name), or English.

    ``"zh_CN.UTF-8"``, ``"zh-CN"`` and ``discord.Locale.chinese`` all give ``"zh-CN"``;
    ``"pt_PT"`` gives ``"pt-BR"``; ``"nl"``, ``"C"``, ``None`` and ``""`` give English.
    """
    raw = str(getattr(locale, "value", locale) or "")
    code = raw.split(".")[0].split("@")[0].replace("_", "-")
    if not code or code in ("C", "POSIX"):
        return DEFAULT_LOCALE
    for candidate in (code.lower(), code.split("-")[0].lower()):
        if candidate in _BY_LOWER_NAME:
            return _BY_LOWER_NAME[candidate]
    return DEFAULT_LOCALE


def catalog_name(locale: object) -> str | None:
    """The catalog folder for ``locale``, or None for English (the message ids themselves)."""
    return SUPPORTED_LOCALES.get(supported(locale))


def current_locale() -> str:
    """The Discord code of the locale messages are rendered in now."""
    return _current.get()


def use_locale(locale: object) -> contextvars.Token[str]:
    """Render in ``locale`` for the rest of this task (and the tasks it starts)."""
    return _current.set(supported(locale))


@contextlib.contextmanager
def speaking(locale: object) -> Iterator[str]:
    """Render in ``locale`` inside the block; the code in effect is yielded."""
    token = use_locale(locale)
    try:
        yield _current.get()
    finally:
        _current.reset(token)
