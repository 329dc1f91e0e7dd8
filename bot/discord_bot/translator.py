"""Command names and descriptions in the members' languages (discord.py's Translator)."""

from __future__ import annotations

import logging

from discord import app_commands
from discord.app_commands import TranslationContextLocation as Where

from bot.i18n import DEFAULT_LOCALE, SUPPORTED_LOCALES, Text, supported
from bot.i18n.discord_rules import valid_command_name, valid_description

log = logging.getLogger(__name__)

# Where discord.py asks for a name Discord checks as a command name. A context menu's
# name (also asked at ``command_name``) may have spaces and capitals: it is told apart
# by its ``context.data``.
_NAMES = (Where.command_name, Where.group_name, Where.parameter_name)


def named(context: str, name: str) -> app_commands.locale_str:
    """A command, option or choice name to translate; ``context`` says which ("command").

    Babel reads ``named("command", "imagine")`` as a message with a context
    (``named:1c,2``): a name's translation follows Discord's rules for names, a
    sentence's does not, and "edit" the command is not "Edit" the button.
    """
    return app_commands.locale_str(name, context=context)


def lookup(string: app_commands.locale_str, locale: object) -> str | None:
    """The catalog's words for ``string`` in ``locale`` (es-419 reads es-ES), as written:
    None for English, a language we do not ship, or a message not translated yet."""
    code = supported(locale)
    if code == DEFAULT_LOCALE:
        return None
    words = Text(string.message, context=string.extras.get("context")).render(code)
    return None if words == string.message else words


def refusal(words: str, context: app_commands.TranslationContextTypes) -> str | None:
    """Why Discord would refuse ``words`` where ``context`` puts them; None if it accepts."""
    if context.location in _NAMES and not isinstance(context.data, app_commands.ContextMenu):
        if not valid_command_name(words):
            return "a name must be 1-32 lower-case letters, digits, - _ ' and no spaces"
    elif context.location is not Where.other and not valid_description(words):
        return "it must be 1-100 characters"
    return None


class CatalogTranslator(app_commands.Translator):
    """The catalogs' words for what the command tree marks (``named``, ``locale_str``).

    A translation Discord would refuse is left out, so that language shows the English
    name: one bad name would make Discord refuse the whole sync (every command, every
    language). The operator is told once per name and language.
    """

    def __init__(self) -> None:
        self._told: set[tuple[str, str | None, str]] = set()

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: object,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        words = lookup(string, locale)
        if words is None:
            return None
        why = refusal(words, context)
        if why is None:
            return words
        code = supported(locale)
        key = (code, string.extras.get("context"), string.message)
        if key not in self._told:
            self._told.add(key)
            log.warning(
                "the %s translation of %r is %r, which Discord refuses (%s): it shows in "
                "English until bot/locales/%s/LC_MESSAGES/messages.po is fixed and compiled",
                code, string.message, words, why, SUPPORTED_LOCALES[code],
            )  # fmt: skip
        return None
