"""``Text``: a marked message and its parameters, translated only when rendered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from bot.i18n.catalogs import translations
from bot.i18n.locales import catalog_name, current_locale


@dataclass(frozen=True, slots=True)
class Text:
    """A message id (and plural id, count, context) with the values for its placeholders."""

    msgid: str
    params: Mapping[str, Any] = field(default_factory=dict)
    plural: str | None = None
    n: int | None = None
    context: str | None = None

    def render(self, locale: object = None) -> str:
        """The message in ``locale`` (the one in effect when None), placeholders filled."""
        code = current_locale() if locale is None else locale
        catalog = translations(catalog_name(code))
        if self.plural is not None:
            count = self.n or 0
            if self.context is not None:
                words = catalog.npgettext(self.context, self.msgid, self.plural, count)
            else:
                words = catalog.ngettext(self.msgid, self.plural, count)
        elif self.context is not None:
            words = catalog.pgettext(self.context, self.msgid)
        else:
            words = catalog.gettext(self.msgid)
        if not self.params:
            return words
        values = {key: render(value, code) for key, value in self.params.items()}
        return words.format_map(values)

    def __str__(self) -> str:
        return self.render()


@dataclass(frozen=True, slots=True)
class Joined:
    """Messages shown one after the other (a sentence and its advice, lines of a list)."""

    parts: tuple[Message, ...]
    sep: str = " "

    def render(self, locale: object = None) -> str:
        code = current_locale() if locale is None else locale
        return self.sep.join(rendered for part in self.parts if (rendered := render(part, code)))

    def __str__(self) -> str:
        return self.render()


Message: TypeAlias = "str | Text | Joined"


def render(message: Any, locale: object = None) -> str:
    """``message`` in ``locale`` (the one in effect when None); a plain ``str`` unchanged.

    Numbers and other values (a placeholder's) are shown with ``str``.
    """
    if isinstance(message, Text | Joined):
        return message.render(locale)
    return "" if message is None else str(message)


def map_words(message: Message, change: Callable[[str], str]) -> Message:
    """``message`` with ``change`` applied to every plain string in it (its own words,
    the parameters of its ``Text`` parts): to scrub a secret out of what it quotes."""
    if isinstance(message, Joined):
        return Joined(tuple(map_words(part, change) for part in message.parts), message.sep)
    if isinstance(message, Text):
        params = {
            key: change(value)
            if isinstance(value, str)
            else map_words(value, change)
            if isinstance(value, Text | Joined)
            else value
            for key, value in message.params.items()
        }
        return Text(message.msgid, params, message.plural, message.n, message.context)
    return change(message)


def join(parts: Iterable[Message | None], sep: str = " ") -> Joined:
    """``parts`` (None and empty ones left out) shown with ``sep`` between them."""
    return Joined(tuple(part for part in parts if part), sep)


def _(msgid: str, /, **params: Any) -> Text:
    """Mark ``msgid`` for translation; ``params`` fill its ``{placeholders}``."""
    return Text(msgid, params)


def n_(singular: str, plural: str, n: int, /, **params: Any) -> Text:
    """Mark a message with plural forms; ``{n}`` is the count unless ``params`` set it."""
    return Text(singular, {"n": n, **params}, plural=plural, n=n)


def p_(context: str, msgid: str, /, **params: Any) -> Text:
    """Mark a short message whose sense needs ``context`` ("button", "command name")."""
    return Text(msgid, params, context=context)
