"""Through the fake Discord: the bot's command sync carries the catalogs' translations."""

from __future__ import annotations

import pytest

from bot.i18n import SUPPORTED_LOCALES
from tests.harness import BotHarness
from tests.i18n.catalogs import load_po, po_path

pytestmark = pytest.mark.catalogs


def _catalog_name(code: str, msgid: str, context: str | None) -> str:
    """What the shipped catalog for Discord locale ``code`` says ``msgid`` is."""
    message = load_po(po_path(SUPPORTED_LOCALES[code]), locale=SUPPORTED_LOCALES[code]).get(
        msgid, context
    )
    assert message is not None and message.string, (
        f"{code} has no translation of {context}|{msgid!r}"
    )
    return str(message.string)


@pytest.mark.parametrize("code", ["zh-CN", "ja", "pt-BR"])
async def test_the_synced_imagine_is_named_in_the_members_language(
    running_bot: BotHarness, code: str
) -> None:
    synced = {c["name"]: c for c in running_bot.fake.global_commands}
    imagine = synced["imagine"]
    name = _catalog_name(code, "imagine", "command")
    assert name != "imagine"
    assert imagine["name_localizations"][code] == name
    # Every shipped language that translates the command gets it; English keeps the id.
    names = imagine["name_localizations"]
    assert "en-US" not in names and "en-GB" not in names
    missing = sorted(set(SUPPORTED_LOCALES) - set(names))
    assert not missing, f"/imagine synced without a name in {missing} (see the bot's warnings)"
    described = set(imagine.get("description_localizations") or {})
    assert described >= set(SUPPORTED_LOCALES), sorted(set(SUPPORTED_LOCALES) - described)
    # Latin-American Spanish reads Spain's.
    assert names["es-419"] == names["es-ES"]
    descriptions = imagine["description_localizations"]
    assert descriptions["es-419"] == descriptions["es-ES"] != imagine["description"]
