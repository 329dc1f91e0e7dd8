"""The compiled catalogs under bot/locales/, loaded once per language with stdlib gettext.

Committed ``.mo`` files, not compiled at install: a fresh clone and ``pip install -e .``
speak every language without Babel at run time, and ``tests/i18n`` fails when a ``.mo``
is not what its ``.po`` compiles to (so a stale one cannot ship).
"""

from __future__ import annotations

import functools
import gettext
from pathlib import Path

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"


@functools.cache
def translations(name: str | None) -> gettext.NullTranslations:
    """The catalog for folder ``name``; English (the ids themselves) for None or a missing one."""
    if name is None:
        return gettext.NullTranslations()
    try:
        return gettext.translation(DOMAIN, localedir=LOCALES_DIR, languages=[name])
    except OSError:
        return gettext.NullTranslations()
