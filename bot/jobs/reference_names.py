"""The reference library in prompts: ``[name]`` attaches the stored image of that name.

Decisions:
- The syntax is ``[name]``, not ``@name``. In Discord's client ``@`` opens the mention
  picker, and Enter or Tab there turns ``@rex`` into ``<@id>`` of a member called Rex
  (or ``@everyone``): what reaches the bot is then no longer the word typed, and a
  reference would be lost without a trace. Brackets mean nothing to Discord (a link is
  ``[text](url)``, so a bracketed word followed by ``(`` stays text).
- A name is looked up in the member's own references first (they follow the member into
  every server), then the server's: a member can shadow a server's ``[logo]`` for
  themselves without an admin.
- A ``[word]`` that names no reference is refused with the names there are: a typo must
  not quietly make an image without the reference the member meant. Anything that is not
  one word in brackets (``[a red car]``) is plain text.
- The images go after every other image of the job (attachments, the image being
  edited), so the image being edited stays the first the model sees; in the text the
  model reads, ``[rex]`` becomes ``rex (image N)``, N its place among the images sent
  with the prompt (Google's guidance names images by their order). The job keeps the
  member's words, so the result and ``/me`` show what was typed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.jobs.spec import Reference

# One word in brackets, not the text of a Markdown link.
_MARK = re.compile(r"\[([A-Za-z0-9_-]{1,32})\](?!\()")


def named(prompt: str) -> list[str]:
    """The reference names a prompt mentions, lower-cased, first mention first."""
    return list(dict.fromkeys(m.lower() for m in _MARK.findall(prompt)))


def prompt_with_references(prompt: str, references: Sequence[Reference], first: int) -> str:
    """What the model reads: each ``[name]`` as ``name (image N)``, from image ``first`` on."""
    if not references:
        return prompt
    places = {r.name: first + i for i, r in enumerate(references)}

    def pointed(match: re.Match[str]) -> str:
        place = places.get(match[1].lower())
        return match[0] if place is None else f"{match[1]} (image {place})"

    return _MARK.sub(pointed, prompt)
