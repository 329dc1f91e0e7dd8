"""A worker's multi-MB results handed back through files instead of the pool's pipe.

A 4K answer is a ~21 MB original plus ~8 MB of re-encoded bytes. Through the process
pool they are pickled into a pipe and read back by the pool's management thread,
which holds the GIL while it copies; measured here that cost 60-80 ms per 4K image
and stalled the event loop meanwhile. Written to a file (tmpfs when there is one) and
read back with ``Path.read_bytes`` in a thread, the same bytes cost a few ms and the
read releases the GIL.

A body too small to hold an image over the upload limit is the exception: its parse
costs a few ms, so it runs in the pool's unniced worker and its results come back
through the pipe (``parse_spooled``).

Ownership: the caller makes the per-call directory (``workdir``), the worker only
writes into it, and the directory goes once both are done with it, whether the call
succeeded, failed or was cancelled (``Workdir``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from bot.gateway.parsing import ParsedResponse, parse_response_file
from bot.i18n import _
from bot.types import GeneratedImage
from bot.workers import CpuPool, worker_result

T = TypeVar("T")

# Smaller payloads go through the pipe: a file costs more than pickling a few KB.
SPILL_MIN_BYTES = 256 * 1024
# Bodies up to this size (and the upload limit) hold no image to re-encode. Measured
# here for a 1K answer (2.2 MB body, 1.6 MB image): results through the pipe took 0.7-1 ms
# less than spilling them to a file and reading that back in a thread.
SMALL_BODY_BYTES = 8 * 1024 * 1024
SHM_DIR = "/dev/shm"
# A body declared larger than this is spooled to a disk-backed file, not tmpfs: tmpfs
# is memory that nothing can reclaim, and 16 simultaneous 4K answers (~28 MB each)
# waiting for two workers held ~0.45 GB of it, measured here. A disk file's pages are
# page cache the kernel can write back and drop; one written and deleted within
# seconds usually never reaches the disk at all.
DISK_SPOOL_ABOVE_BYTES = SMALL_BODY_BYTES
# What the member reads when the worker reading the gateway's answer died under it.
ANSWER_WORKER_DIED = _("Something went wrong while reading the image service's answer; try again.")


def spool_base(room_needed: int) -> str:
    """tmpfs when it exists and has room (no disk I/O at all), else the system temp dir."""
    try:
        stat = os.statvfs(SHM_DIR)
    except OSError:
        return tempfile.gettempdir()
    if stat.f_bavail * stat.f_frsize >= room_needed and os.access(SHM_DIR, os.W_OK):
        return SHM_DIR
    return tempfile.gettempdir()


def _remove(directory: str, *files: str) -> None:
    shutil.rmtree(directory, ignore_errors=True)
    for path in files:
        with contextlib.suppress(OSError):  # the worker removed it once read
            os.unlink(path)


class Workdir:
    """A per-call directory shared with one worker call, removed once both are done with it.

    When the caller is cancelled while the worker still runs, the worker may yet write
    into the directory: it is then removed when the worker finishes, not before.
    """

    def __init__(self, cpu: CpuPool, base: str | None = None, room_needed: int = 0) -> None:
        self._cpu = cpu
        self._base, self._room = base, room_needed
        self.path = ""
        self._future: Future[Any] | None = None
        self._on_disk: dict[str, str] = {}  # large files kept out of a tmpfs directory

    def file(self, name: str) -> str:
        return self._on_disk.get(name) or os.path.join(self.path, name)

    def sink(self, name: str, size_hint: int | None = None) -> BinaryIO:
        """A new file to write into (tmpfs or page cache: microseconds).

        In the directory, except a file of more than ``DISK_SPOOL_ABOVE_BYTES`` (by the
        hint) when the directory is on tmpfs: that one goes to the system temp dir.
        """
        big = size_hint is not None and size_hint > DISK_SPOOL_ABOVE_BYTES
        if big and self._base is None and self.path.startswith(SHM_DIR + os.sep):
            fd, path = tempfile.mkstemp(prefix=f"imagine-{name}-")
            self._on_disk[name] = path
            return os.fdopen(fd, "wb")
        return open(self.file(name), "wb")  # noqa: SIM115 - the caller closes it

    async def run(self, fn: Callable[..., T], /, *args: Any, small: bool = False) -> T:
        """``cpu.run(fn, *args)`` (``small``: ``cpu.submit_small``), one per directory."""
        assert self._future is None, "one worker call per directory"
        submit = self._cpu.submit_small if small else self._cpu.submit
        self._future = submit(fn, *args)
        return await worker_result(self._future, fn, ANSWER_WORKER_DIED)

    async def __aenter__(self) -> Workdir:
        self.path = tempfile.mkdtemp(prefix="imagine-", dir=self._base or spool_base(self._room))
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        future, paths = self._future, (self.path, *self._on_disk.values())
        if future is None or future.done():
            _remove(*paths)
        else:
            future.add_done_callback(lambda _: _remove(*paths))


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class SpilledResponse:
    """A ParsedResponse whose large byte strings were written to files.

    ``files`` maps a slot to the file holding its bytes: ``("image", i)``,
    ``("fitted", i)`` or ``("blob", digest)``; those slots hold ``b""`` in ``parsed``.
    """

    parsed: ParsedResponse
    files: tuple[tuple[tuple[str, Any], str], ...]


def _spill(parsed: ParsedResponse, directory: str) -> SpilledResponse:
    written: dict[int, str] = {}  # id(bytes) -> file: blobs and images share objects
    files: list[tuple[tuple[str, Any], str]] = []

    def put(slot: tuple[str, Any], data: bytes) -> bool:
        if len(data) < SPILL_MIN_BYTES:
            return False
        path = written.get(id(data))
        if path is None:
            path = os.path.join(directory, f"{len(written)}.bin")
            with open(path, "wb") as f:
                f.write(data)
            written[id(data)] = path
        files.append((slot, path))
        return True

    images = []
    for i, image in enumerate(parsed.result.images):
        fitted = image.fitted
        if fitted is not None and put(("fitted", i), fitted.data):
            fitted = replace(fitted, data=b"")
        image = replace(image, fitted=fitted)
        if put(("image", i), image.data):
            image = replace(image, data=b"")
        images.append(image)
    blobs = {d: b"" if put(("blob", d), data) else data for d, data in parsed.result.blobs.items()}
    result = replace(parsed.result, images=tuple(images), blobs=blobs)
    return SpilledResponse(replace(parsed, result=result), tuple(files))


def parse_response_spilled(path: str, *args: Any, out_dir: str, **kwargs: Any) -> SpilledResponse:
    """``parse_response_file``, with the large results left as files in ``out_dir``."""
    return _spill(parse_response_file(path, *args, **kwargs), out_dir)


# --------------------------------------------------------------------------- caller side


async def parse_spooled(
    work: Workdir,
    status: int,
    content_type: str | None,
    *,
    body_bytes: int,
    upload_limit: int | None = None,
    **kwargs: Any,
) -> ParsedResponse:
    """``parse_response_file`` of the ``body_bytes`` spooled to ``work.file("body")``.

    Small bodies go to the unniced worker with their results through the pipe, larger
    ones to the pool with their results left as files and read back here.
    """
    path = work.file("body")
    if body_bytes <= SMALL_BODY_BYTES and (upload_limit is None or body_bytes <= upload_limit):
        parse = functools.partial(parse_response_file, upload_limit=upload_limit, **kwargs)
        return await work.run(parse, path, status, content_type, small=True)
    spilled = functools.partial(
        parse_response_spilled, upload_limit=upload_limit, out_dir=work.path, **kwargs
    )
    return await unspill(await work.run(spilled, path, status, content_type))


async def unspill(spilled: SpilledResponse) -> ParsedResponse:
    """The ParsedResponse with every spilled slot read back (each file once, in threads)."""
    paths = sorted({path for _, path in spilled.files})
    contents = dict(
        zip(paths, await asyncio.gather(*(asyncio.to_thread(_read, p) for p in paths)), strict=True)
    )
    slots = {slot: contents[path] for slot, path in spilled.files}
    result = spilled.parsed.result
    images = []
    for i, image in enumerate(result.images):
        fitted: GeneratedImage | None = image.fitted
        if ("fitted", i) in slots and fitted is not None:
            fitted = replace(fitted, data=slots["fitted", i])
        images.append(replace(image, data=slots.get(("image", i), image.data), fitted=fitted))
    blobs = {d: slots.get(("blob", d), data) for d, data in result.blobs.items()}
    return replace(spilled.parsed, result=replace(result, images=tuple(images), blobs=blobs))


def _read(path: str) -> bytes:
    data = Path(path).read_bytes()
    with contextlib.suppress(OSError):
        os.unlink(path)  # frees tmpfs memory now rather than at the directory's removal
    return data
