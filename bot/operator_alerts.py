"""Problems on the bot's own gateway that only the operator can fix, told in the log.

Members see a sentence naming the bot's owner, but the owner reads the log: a rejected
key, an empty account or an unknown model there gets one WARNING naming the gateway's
host and the model (never the key), at most once per ``ALERT_INTERVAL`` per kind, so a
busy server failing every job does not flood the log. A server's own gateway is its
admins' business and is not logged here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.errors import GatewayAuthError, GatewayError, ModelNotAvailable, PaymentRequired
from bot.gateway.addresses import gateway_address

log = logging.getLogger("bot.operator")

ALERT_INTERVAL = 300.0  # seconds between two warnings of one kind
# Kind, what happened, and what the operator does about it ({model} filled in).
PROBLEMS: tuple[tuple[type[GatewayError], str, str], ...] = (
    (GatewayAuthError, "rejected the API key", "set a valid IMAGE_API_KEY"),
    (PaymentRequired, "says the account is out of credit", "top up that account"),
    (
        ModelNotAvailable,
        "does not know the model",
        "set IMAGE_MODEL to a model it lists (or check the server's /settings model)",
    ),
)


class OperatorAlerts:
    """Rate-limited warnings for the operator; one per kind per interval, per process."""

    def __init__(
        self, *, interval: float = ALERT_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[type[GatewayError], float] = {}

    def gateway_failed(self, exc: GatewayError, *, base_url: str, model: str) -> bool:
        """Warn if ``exc`` is the operator's to fix and not warned of lately; True if warned."""
        for kind, what, fix in PROBLEMS:
            if not isinstance(exc, kind):
                continue
            now = self._clock()
            last = self._last.get(kind)
            if last is not None and now - last < self._interval:
                return False
            self._last[kind] = now
            said = f"; it said: {exc.gateway_message}" if exc.gateway_message else ""
            log.warning(
                "the bot's gateway %s %s (model %s): %s%s",
                gateway_address(base_url),
                what,
                model,
                fix,
                said,
            )
            return True
        return False
