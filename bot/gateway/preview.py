"""Live previews of a streamed answer: the latest thought image (small) and thought line.

The hand-off: ``ThoughtWatcher`` (on the loop, fed every piece of the body as it is
spooled) notes the latest event holding a thought image and the latest thought line.
``PreviewPump`` wakes when they change, at most once per ``PREVIEW_INTERVAL``: the
latest image's event goes to a file (written in a thread) and a CPU worker decodes and
shrinks it (``preview_from_event``), then ``on_preview`` gets a ``Preview``. Images that
arrived in between are never decoded: only the latest state is shown. Nothing is
called once the answer is complete (the pump stops with the exchange) or once the final
image began to arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable
from typing import BinaryIO, cast

import httpx

from bot.gateway.thoughts import ThoughtWatcher, preview_from_event
from bot.types import Preview
from bot.workers import CpuPool

log = logging.getLogger(__name__)

# Discord allows about 5 edits of a message per 5 s; previews take at most one per
# this many seconds, leaving room for the elapsed-time ticks and the result.
PREVIEW_INTERVAL = 1.5

OnPreview = Callable[[Preview], None]


class _TeeSink:
    """The spool file, with every piece also shown to the watcher."""

    def __init__(self, file: BinaryIO, watcher: ThoughtWatcher) -> None:
        self._file, self._watcher = file, watcher

    def write(self, piece: bytes) -> int:
        written = self._file.write(piece)
        self._watcher.feed(piece)
        return written

    def tell(self) -> int:
        return self._file.tell()

    def close(self) -> None:
        self._file.close()


def _write(fd: int, data: bytes | memoryview) -> None:
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def preview_from_file(path: str) -> bytes | None:
    """Worker side: ``preview_from_event`` of the event data written to ``path``."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
    return preview_from_event(data)


class PreviewPump:
    """Previews of one exchange's streamed body, handed to ``on_preview`` at a bounded rate."""

    def __init__(
        self,
        cpu: CpuPool,
        on_preview: OnPreview,
        *,
        spool_dir: str | None = None,
        interval: float | None = None,
    ) -> None:
        self._cpu = cpu
        self._on_preview = on_preview
        self._spool_dir = spool_dir
        self.interval = PREVIEW_INTERVAL if interval is None else interval
        self._changed = asyncio.Event()
        self._watcher: ThoughtWatcher | None = None
        self._task: asyncio.Task[None] | None = None

    def tee(self, file: BinaryIO, headers: httpx.Headers) -> BinaryIO:
        """``file`` with the watcher reading along (one body per pump)."""
        self._watcher = ThoughtWatcher(headers.get("content-type"), self._changed.set)
        return cast(BinaryIO, _TeeSink(file, self._watcher))

    async def __aenter__(self) -> PreviewPump:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="preview")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        """No more previews (a thumbnail on its way is dropped); safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        shown_seq, shown_text = 0, None
        last = -self.interval
        while True:
            await self._changed.wait()
            # Coalesce: whatever arrives until the interval allows is one preview.
            await asyncio.sleep(max(0.0, last + self.interval - time.monotonic()))
            self._changed.clear()
            watcher = self._watcher
            if watcher is None or watcher.finished:
                return
            image: bytes | None = None
            if watcher.image is not None and watcher.image_seq != shown_seq:
                seq, data = watcher.image_seq, watcher.image
                image = await self._shrink(data)
                shown_seq = seq
            text = watcher.text
            if watcher.finished or (image is None and text == shown_text):
                continue
            shown_text = text
            last = time.monotonic()
            try:
                self._on_preview(Preview(image=image, text=text))
            except Exception:  # the preview is a nicety; the answer goes on
                log.warning("a preview could not be shown", exc_info=True)

    async def _shrink(self, data: bytes | memoryview) -> bytes | None:
        # The event may hold MBs of base64: to a file in a thread (the write releases the
        # GIL), decoded in a worker; only the small JPEG comes back through the pipe.
        fd, path = tempfile.mkstemp(prefix="imagine-preview-", dir=self._spool_dir)
        try:
            await asyncio.to_thread(_write, fd, data)
            return await self._cpu.run(preview_from_file, path)
        except Exception as exc:
            log.debug("no preview of a thought image: %s", exc)
            return None
        finally:
            # The worker removed it once read; not when this was stopped before that.
            with contextlib.suppress(OSError):
                os.unlink(path)
