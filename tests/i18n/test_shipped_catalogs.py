"""The shipped catalogs: complete, placeholders kept, compiled, up to date with the code.

These fail (never skip) while a catalog is missing: the build must not ship a language
half done. ``pytest -m catalogs`` runs only them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import discord
import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_keywords, parse_mapping_cfg
from babel.messages.plurals import get_plural
from discord import app_commands
from discord.ext import commands

from bot.discord_bot.app import COGS
from bot.discord_bot.translator import CatalogTranslator, lookup, refusal
from bot.i18n import SUPPORTED_LOCALES, supported
from bot.i18n.__main__ import COMMENT_TAG, KEYWORD_SPECS, ROOT
from tests.i18n.catalogs import (
    POT_PATH,
    Key,
    compiled,
    entries,
    key,
    load_po,
    mo_messages,
    placeholders,
    po_path,
)

pytestmark = pytest.mark.catalogs
NAMES = sorted(SUPPORTED_LOCALES.values())


def _template() -> Catalog:
    return load_po(POT_PATH)


def _forms(message: Message) -> list[str]:
    string = message.string
    return list(string) if isinstance(string, tuple | list) else [string]


def _show(k: Key) -> str:
    context, msgid = k
    return f"{context + ' | ' if context else ''}{msgid!r}"


def _problems(name: str) -> Iterator[str]:
    """Every way the ``name`` catalog falls short of the template, one line each."""
    template = _template()
    po = load_po(po_path(name), locale=name)
    nplurals = get_plural(name).num_plurals
    if po.num_plurals != nplurals:
        yield f"Plural-Forms says nplurals={po.num_plurals}, {name} has {nplurals}"
    ids = {key(m) for m in entries(template)}
    extra = {key(m) for m in entries(po)} - ids
    for k in sorted(extra, key=str):
        yield f"not in messages.pot (run `python -m bot.i18n update`): {_show(k)}"
    for wanted in entries(template):
        message = po.get(wanted.id, wanted.context)
        where = _show(key(wanted))
        if message is None:
            yield f"missing (run `python -m bot.i18n update`, then translate): {where}"
            continue
        forms = _forms(message)
        if message.fuzzy or not all(forms):
            yield f"not translated{' (fuzzy)' if message.fuzzy else ''}: {where}"
            continue
        if wanted.pluralizable and len(forms) != nplurals:
            yield f"{len(forms)} plural forms, {name} needs {nplurals}: {where}"
        want = _fields([wanted.id] if isinstance(wanted.id, str) else list(wanted.id))
        for form in forms:
            got = _fields([form])
            if got != want:
                yield f"placeholders {got} where the id has {want}: {where} -> {form!r}"


def _fields(texts: list[str]) -> str:
    """The placeholders ``texts`` fill together (a plural's forms share them), as shown."""
    found: set[str] = set()
    for text in texts:
        names = placeholders(text)
        if isinstance(names, str):
            return names
        found |= names
    return "{" + ", ".join(sorted(found)) + "}"


@pytest.mark.parametrize("name", NAMES)
def test_every_message_is_translated_with_its_placeholders(name: str) -> None:
    problems = list(_problems(name))
    if problems:
        pytest.fail(f"bot/locales/{name}: {len(problems)} problem(s)\n" + "\n".join(problems))


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_mo_is_what_the_po_compiles_to(name: str) -> None:
    po = po_path(name)
    mo = po.with_suffix(".mo")
    assert mo.is_file(), f"{mo.relative_to(ROOT)} is missing: run `python -m bot.i18n compile`"
    with mo.open("rb") as fh:
        shipped = mo_messages(fh)
    assert shipped == compiled(load_po(po, locale=name)), (
        f"{mo.relative_to(ROOT)} is stale: run `python -m bot.i18n compile` and commit it"
    )


def _in_code() -> set[Key]:
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: set[Key] = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=parse_keywords(list(KEYWORD_SPECS)),
        comment_tags=[COMMENT_TAG],
    ):
        msgid: Any = tuple(message) if isinstance(message, tuple | list) else message
        if msgid:
            found.add((context, msgid))
    return found


def test_the_template_has_every_message_the_code_marks() -> None:
    code = _in_code()
    pot = {key(m) for m in entries(_template())}
    fix = "run `python -m bot.i18n extract`, then `python -m bot.i18n update`"
    assert not code - pot, f"marked in the code, not in messages.pot ({fix}): " + ", ".join(
        _show(k) for k in sorted(code - pot, key=str)
    )
    assert not pot - code, f"in messages.pot, no longer in the code ({fix}): " + ", ".join(
        _show(k) for k in sorted(pot - code, key=str)
    )


class _Checking(CatalogTranslator):
    """The shipped translator, noting every translation Discord would refuse."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: object,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        words = lookup(string, locale)
        why = None if words is None else refusal(words, context)
        if why is not None:
            where = f"{supported(locale)} {context.location.name}"
            self.refused.append(f"{where} {string.message!r} -> {words!r}: {why}")
        return await super().translate(string, locale, context)


async def test_every_localized_command_name_and_description_is_one_discord_accepts() -> None:
    bot = commands.Bot(command_prefix=commands.when_mentioned, intents=discord.Intents.none())
    try:
        for name in COGS:
            await bot.load_extension(name)
        translator = _Checking()
        await bot.tree.set_translator(translator)
        translated: set[str] = set()
        for command in bot.tree.get_commands():
            payload = await command.get_translated_payload(bot.tree, translator)
            translated |= set(payload.get("name_localizations") or {})
    finally:
        await bot.close()
    assert not translator.refused, "\n".join(sorted(set(translator.refused)))
    # Every shipped language names the commands in its own words (not only the English).
    untranslated = sorted(set(SUPPORTED_LOCALES) - translated)
    assert not untranslated, f"no command name translated in {untranslated}"
