"""What Discord accepts as a command's name and description, in any language.

Discord refuses a whole command sync (400, code 50035) for one name that breaks its
rules, so a translation that does is left out (the English name stays) rather than sent;
the tests check every catalog against the same rules. No discord import: the core,
the fake Discord and the tests share these.
"""

from __future__ import annotations

import unicodedata

# Every locale Discord knows (``name_localizations`` keys); any other key is refused.
DISCORD_LOCALES = frozenset(
    (
        "id", "da", "de", "en-GB", "en-US", "es-ES", "es-419", "fr", "hr", "it", "lt", "hu",
        "nl", "no", "pl", "pt-BR", "ro", "fi", "sv-SE", "vi", "tr", "cs", "el", "bg", "ru",
        "uk", "hi", "th", "zh-CN", "ja", "zh-TW", "ko",
    )
)  # fmt: skip
NAME_MAX = 32
DESCRIPTION_MAX = 100  # a description's and a choice name's
_PUNCTUATION = frozenset("-_'")
# Discord's \p{sc=Deva} and \p{sc=Thai}: their vowel signs are marks, not letters, and a
# Hindi or Thai word needs them. (Danda and the Vedic tone marks belong to no one script.)
_SCRIPTS = (
    (0x0900, 0x0950), (0x0955, 0x0963), (0x0966, 0x097F), (0xA8E0, 0xA8FF),
    (0x11B00, 0x11B09), (0x0E01, 0x0E3A), (0x0E40, 0x0E5B),
)  # fmt: skip


def _allowed(char: str) -> bool:
    """One character of Discord's ``^[-_'\\p{L}\\p{N}\\p{sc=Deva}\\p{sc=Thai}]`` class."""
    if char in _PUNCTUATION or unicodedata.category(char)[0] in "LN":
        return True
    return any(low <= ord(char) <= high for low, high in _SCRIPTS)


def valid_command_name(name: str) -> bool:
    """A slash command, group, option name Discord accepts: 1-32 letters, digits, ``-_'``,
    lower case where the script has case (no spaces, no capitals)."""
    return (
        1 <= len(name) <= NAME_MAX and all(_allowed(char) for char in name) and name == name.lower()
    )


def valid_description(text: str) -> bool:
    """A command or option description, or a choice name: 1-100 characters."""
    return 1 <= len(text) <= DESCRIPTION_MAX


def valid_locale(code: str) -> bool:
    """A ``name_localizations`` / ``description_localizations`` key Discord knows."""
    return code in DISCORD_LOCALES
