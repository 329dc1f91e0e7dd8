"""Words members read, in their language: lazy messages rendered in a locale when shown.

A message is marked where it is written, ``_("Your image is ready.")``,
``n_("{n} image", "{n} images", n)`` or, for a short word whose sense needs saying,
``p_("button", "Edit")``; Babel extracts those calls into ``bot/locales/messages.pot``
(see the README's "Translations"). Marking returns a ``Text``: nothing is translated
until the message is shown, so a message made in a job's task, in an exception or at
import time is rendered in the language of whoever reads it.

``render(message)`` turns a ``Message`` (a plain ``str``, a ``Text`` or a ``Joined``)
into the words of the locale in effect (``speaking(locale)``), English by default.
Plain strings pass through untouched: the gateway's own words and the model's text are
shown as they were written. ``str(text)`` renders in the locale in effect too.

Placeholders are ``str.format`` fields by name (``{count}``); a parameter that is itself
a ``Text`` is rendered in the same locale. The completeness test checks that every
translation has the same placeholders as its message id.
"""

from __future__ import annotations

from bot.i18n.locales import (
    DEFAULT_LOCALE,
    SUPPORTED_LOCALES,
    catalog_name,
    current_locale,
    speaking,
    supported,
    use_locale,
)
from bot.i18n.text import Joined, Message, Text, _, join, map_words, n_, p_, render

__all__ = [
    "DEFAULT_LOCALE",
    "SUPPORTED_LOCALES",
    "Joined",
    "Message",
    "Text",
    "_",
    "catalog_name",
    "current_locale",
    "join",
    "map_words",
    "n_",
    "p_",
    "render",
    "speaking",
    "supported",
    "use_locale",
]
