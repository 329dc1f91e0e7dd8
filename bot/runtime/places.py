"""What every implementation's chain place does when its job lets go of it."""

from __future__ import annotations

import asyncio
from typing import Any


class ClosingPlace:
    """``ChainPlace.close``: settle once, after the job's store when one is still running."""

    def __init__(self) -> None:
        self._settled = False
        self._recording = False
        self._after: asyncio.Future[Any] | None = None

    def close(self, after: asyncio.Future[Any] | None = None) -> None:
        if after is not None and not after.done():
            self._after = after
            after.add_done_callback(lambda _: self.close())
            return
        if self._after is not None and not self._after.done():
            return  # the job's store closes it
        if not (self._settled or self._recording):
            self._settle()

    def _settle(self) -> None:
        raise NotImplementedError
