"""What a ``Store`` raises, the same for every driver (drawn in ``bot/errors.py``).

The not-found errors are ``KeyError``s and the refusals ``ValueError``s as well, so a
caller that only cares about the kind of failure needs no storage import; ``str(exc)``
is a plain sentence either way (a bare ``KeyError`` would show its argument quoted).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.errors import ImagineError
from bot.i18n import Message, _


class StorageError(ImagineError):
    """Base of every error a Store raises on purpose."""

    default_message = _("The bot's database could not do that.")

    def __str__(self) -> str:
        # Before KeyError's __str__ in the MRO, which would quote the message.
        return Exception.__str__(self)


class NotStored(StorageError, KeyError):
    """A record that is not (or no longer) in the database."""

    default_message = _("That is no longer stored; it may have expired.")


class JobNotFound(NotStored):
    default_message = _("That job is no longer stored; it may have expired.")

    def __init__(self, job_id: int, message: Message | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class BlobNotFound(NotStored):
    default_message = _("An image this needs is no longer stored; it may have expired.")

    def __init__(self, shas: str | Sequence[str], message: Message | None = None) -> None:
        super().__init__(message)
        self.shas = (shas,) if isinstance(shas, str) else tuple(shas)

    @property
    def sha256(self) -> str:
        return self.shas[0] if self.shas else ""


class JobFenced(StorageError):
    """A fenced ``update_job`` refused: the job is another owner's now, or finished.

    A process that lost its lease (another took the job over) must not overwrite what
    the new owner writes; the row is left as it was.
    """

    default_message = _("That job was taken over by another process or has finished.")

    def __init__(self, job_id: int, *, owner: str, state: str, fence_owner: str) -> None:
        super().__init__(
            f"job {job_id} was left unchanged: it is {state} and owned by {owner!r}, not an "
            f"unfinished job of {fence_owner!r} (another process took it over, or it finished)"
        )
        self.job_id, self.owner, self.state = job_id, owner, state


class StorageUnavailable(StorageError):
    """The database did not answer (connection lost, restarting, overloaded, too slow).

    Raised once the store is open; its sentence is for the member, the driver logs the
    cause for the operator (``bot.storage.postgres.guard``). Trying again may work.
    """

    default_message = _("The bot's database is not answering; try again in a moment.")


class InvalidValue(StorageError, ValueError):
    """A value the store refuses to write: the caller should have checked it first."""

    default_message = _("That value cannot be stored.")


class InvalidSetting(InvalidValue):
    """A guild setting that is unknown or outside its rule (``bot.storage.settings``)."""

    default_message = _("That setting cannot be stored.")


class ReferenceExists(InvalidValue):
    """``add_reference`` for a name the owner already has (the one stored stays)."""

    default_message = _("A reference by that name exists already.")


class TooManyReferences(InvalidValue):
    """``add_reference`` for an owner who has as many as the limit allows."""

    default_message = _("There are as many references as allowed already.")
