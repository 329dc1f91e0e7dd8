"""Command names and descriptions in the members' languages (discord.py's Translator)."""

from __future__ import annotations

from discord import app_commands


def named(context: str, name: str) -> app_commands.locale_str:
    """A command, option or choice name to translate; ``context`` says which ("command").

    Babel reads ``named("command", "imagine")`` as a message with a context
    (``named:1c,2``): a name's translation follows Discord's rules for names, a
    sentence's does not, and "edit" the command is not "Edit" the button.
    """
    return app_commands.locale_str(name, context=context)
