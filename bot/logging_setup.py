"""Logging for the running bot: one format, and no secret ever reaches a handler."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

# Secrets learnt while running (a server's key, once decrypted), which no start-up
# list can hold. Replaced, never mutated: a filter in another thread reads it whole.
_learnt: frozenset[str] = frozenset()


def remember_secret(secret: str) -> None:
    """Redact ``secret`` from every record from now on."""
    global _learnt
    if secret and secret not in _learnt:
        _learnt = _learnt | {secret}


def configure_logging(level: str, *, secrets: Iterable[str] = ()) -> None:
    from bot.secrets import SecretRedactingFilter

    known = [s for s in secrets if s]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    # On the handler, not the logger: a filter on a logger does not see records
    # propagated from child loggers (discord.*, httpx), a handler filter does.
    handler.addFilter(SecretRedactingFilter(lambda: [*known, *_learnt]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # httpx logs every request URL at INFO; discord.http logs routes at DEBUG. Neither
    # carries keys, but both are noise at INFO.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    # aiosqlite logs every statement with its parameters at DEBUG: noise, and blobs.
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, root.level))
