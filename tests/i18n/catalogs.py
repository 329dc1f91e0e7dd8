"""The shipped catalogs as Babel reads them, and small catalogs compiled for a test."""

from __future__ import annotations

import io
import string
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from bot.i18n import catalogs
from bot.i18n.__main__ import LOCALES, POT, ROOT

LOCALES_DIR = ROOT / LOCALES
POT_PATH = ROOT / POT
# A message id as Babel keys it: (context, msgid), msgid a (singular, plural) pair for plurals.
Key = tuple[str | None, str | tuple[str, ...]]


def po_path(name: str) -> Path:
    return LOCALES_DIR / name / "LC_MESSAGES" / "messages.po"


def load_po(path: Path, locale: str | None = None) -> Catalog:
    """``path`` read by Babel; a missing file fails the test (never skips) with the fix."""
    if not path.is_file():
        fix = (
            f"`python -m bot.i18n init {locale}` and translate it"
            if locale
            else ("`python -m bot.i18n extract`")
        )
        pytest.fail(f"{path.relative_to(ROOT)} is missing: run {fix}")
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def key(message: Message) -> Key:
    msgid = tuple(message.id) if isinstance(message.id, tuple | list) else message.id
    return (message.context, msgid)


def entries(catalog: Catalog) -> Iterator[Message]:
    """The catalog's messages, without its header (the empty id)."""
    return (message for message in catalog if message.id)


def compiled(catalog: Catalog) -> dict[Key, Any]:
    """What ``catalog`` says once compiled to a .mo, as Babel reads the .mo back."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return mo_messages(buffer)


def mo_messages(fileobj: Any) -> dict[Key, Any]:
    return {key(message): message.string for message in entries(read_mo(fileobj))}


def placeholders(text: str) -> set[str] | str:
    """The ``{names}`` ``text`` fills; a sentence saying so if its braces do not parse."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError as exc:
        return f"unbalanced braces ({exc})"


def write_catalog(root: Path, name: str, messages: Iterable[tuple[Any, Any, str | None]]) -> Path:
    """A .mo for folder ``name`` under ``root`` from (msgid, translation, context) triples,
    compiled with Babel as ``python -m bot.i18n compile`` does."""
    catalog = Catalog(locale=name, domain=catalogs.DOMAIN)
    for msgid, words, context in messages:
        catalog.add(msgid, words, context=context)
    folder = root / name / "LC_MESSAGES"
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / f"{catalogs.DOMAIN}.mo").open("wb") as fh:
        write_mo(fh, catalog)
    return folder


@pytest.fixture
def test_catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """bot.i18n reads its catalogs from ``tmp_path`` (write them with ``write_catalog``)."""
    monkeypatch.setattr(catalogs, "LOCALES_DIR", tmp_path)
    catalogs.translations.cache_clear()
    yield tmp_path
    catalogs.translations.cache_clear()
