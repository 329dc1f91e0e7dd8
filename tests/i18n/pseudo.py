"""``python -m tests.i18n.pseudo [LANG ...]``: fill the catalogs with pseudo-translations.

A local check of the translation pipeline before real translations exist, NEVER to commit:
every untranslated message of bot/locales/<LANG>/LC_MESSAGES/messages.po (all languages by
default) gets its English with accented vowels (a name stays a valid Discord name, a
sentence gets a ``[lang]`` prefix when it still fits in 100 characters); placeholders and
doubled braces are kept. Then ``python -m bot.i18n compile`` and ``pytest -m catalogs``.
"""

from __future__ import annotations

import re
import sys

from babel.messages.pofile import read_po, write_po

from bot.i18n import SUPPORTED_LOCALES
from bot.i18n.discord_rules import DESCRIPTION_MAX, valid_command_name
from tests.i18n.catalogs import placeholders, po_path

_KEEP = re.compile(r"(\{\{|\}\}|\{[^{}]*\})")
_ACCENTS = str.maketrans("aeiouAEIOU", "áéíóúÁÉÍÓÚ")


def pseudo(text: str, lang: str, *, name: bool) -> str:
    """``text`` visibly changed, its placeholders as they were."""
    parts = _KEEP.split(text)
    words = "".join(part if _KEEP.fullmatch(part) else part.translate(_ACCENTS) for part in parts)
    if name and valid_command_name(text):
        return words if words != text else f"{text}-{lang.lower()}"[:32]
    tagged = f"[{lang}] {words}"
    return tagged if len(tagged) <= max(DESCRIPTION_MAX, len(text)) else words


def fill(name: str) -> int:
    path = po_path(name)
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=name)
    filled = 0
    for message in catalog:
        if not message.id or (message.string and not message.fuzzy and all(message.string)):
            continue
        is_name = message.context is not None
        if isinstance(message.id, str):
            message.string = pseudo(message.id, name, name=is_name)
        else:
            one, many = (pseudo(text, name, name=is_name) for text in message.id)
            same = placeholders(message.id[0]) == placeholders(message.id[1])
            forms = [one if same and catalog.num_plurals > 1 else many] + [many] * (
                catalog.num_plurals - 1
            )
            message.string = tuple(forms)
        message.flags.discard("fuzzy")
        filled += 1
    with path.open("wb") as fh:
        write_po(fh, catalog, width=0)
    return filled


def main(argv: list[str]) -> int:
    for name in argv or sorted(SUPPORTED_LOCALES.values()):
        print(f"{po_path(name)}: {fill(name)} pseudo-translated (do not commit)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
