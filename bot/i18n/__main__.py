"""``python -m bot.i18n extract|update|compile|check``: Babel's pybabel with this project's options.

extract  code -> bot/locales/messages.pot (every marked message, with translators' comments)
update   messages.pot -> each bot/locales/<lang>/LC_MESSAGES/messages.po (new ids, fuzzy ones)
compile  each .po -> its .mo (committed; bot/i18n/catalogs.py says why)
init L   a new language's .po from messages.pot (L a gettext name: pt_PT)

Babel is a dev dependency (``pip install -e '.[dev]'``); running the bot needs only the .mo.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LOCALES = "bot/locales"
POT = f"{LOCALES}/messages.pot"
# _ / n_ / p_ are bot.i18n's markers; locale_str is discord.py's (command descriptions,
# choices) and named(context, name) the Discord layer's for command and option names.
# pybabel's -k specs; tests/i18n extracts with the same ones (babel's parse_keywords).
KEYWORD_SPECS = ("_", "n_:1,2", "p_:1c,2", "locale_str", "named:1c,2")
KEYWORDS = [arg for spec in KEYWORD_SPECS for arg in ("-k", spec)]
COMMENT_TAG = "Translators:"


def pybabel_args(command: str, rest: list[str]) -> list[str]:
    if command == "extract":
        return [
            "extract", "-F", "babel.cfg", "--no-default-keywords", *KEYWORDS,
            f"--add-comments={COMMENT_TAG}", "--sort-by-file", "--no-wrap",
            "--project=imagine-bot", "--copyright-holder=imagine-bot contributors",
            "-o", POT, ".",
        ]  # fmt: skip
    if command == "update":
        return ["update", "-i", POT, "-d", LOCALES, "--no-wrap", "--ignore-obsolete"]
    if command == "compile":
        return ["compile", "-d", LOCALES, "--statistics"]
    if command == "init" and rest:
        return ["init", "-i", POT, "-d", LOCALES, "-l", rest[0], "--no-wrap"]
    raise SystemExit(__doc__)


def main(argv: list[str]) -> int:
    try:
        from babel.messages.frontend import main as pybabel
    except ImportError:
        print("Babel is not installed: pip install -e '.[dev]'", file=sys.stderr)
        return 2
    if not argv:
        raise SystemExit(__doc__)
    import os

    os.chdir(ROOT)
    (ROOT / LOCALES).mkdir(exist_ok=True)  # the first extract, in a fresh checkout
    sys.argv = ["pybabel", *pybabel_args(argv[0], argv[1:])]
    pybabel()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
