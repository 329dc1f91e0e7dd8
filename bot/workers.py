"""A small process pool for CPU-heavy work (JSON, base64, Pillow on multi-MB payloads).

Threads are not enough: orjson, base64 and Pillow's codecs hold the GIL for long
stretches, and measured here that delayed other users' acknowledgements by over a
second under load. Work submitted here must be a top-level (picklable) function.

A worker that dies (killed for memory, a crash in a codec) breaks its whole pool for
good: the job it ran fails with ``WorkerCrashed`` (``run``, ``worker_result``) and a new
pool takes the next jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import (
    BrokenExecutor,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
)
from typing import Any, TypeVar

from bot.errors import WorkerCrashed
from bot.i18n import Message

log = logging.getLogger(__name__)

T = TypeVar("T")


def default_worker_count() -> int:
    return max(1, min(4, os.cpu_count() or 1))


# Workers yield the CPU to the event loop: on a 2-core host two busy codec workers
# otherwise delay the loop's wake-ups (acknowledgements, heartbeats) by whole timeslices.
WORKER_NICENESS = 10
# ...but niced, a worker gets ~10% of a core while other programs keep the host busy:
# measured here with two busy loops beside the bench, a 1K answer took 3.6x the floor
# through a niced worker and 0.9x through one at normal priority. Answers that need no
# re-encode cost a few ms, so one worker runs them unniced; as only one can be busy at a
# time, the bot's own work never holds more than one of the two cores at full priority.
SMALL_JOB_NICENESS = 0


def _lower_priority(increment: int) -> None:
    # Not permitted here: run at normal priority rather than not at all.
    with contextlib.suppress(OSError):
        os.nice(increment)


# glibc gives freed memory back to the kernel as soon as the top of the heap has 128 KB
# spare, and serves blocks over 128 KB-32 MB with fresh mmaps, so each 4K job faulted
# in and zeroed its ~250 MB working set anew: measured here, 4K jobs took 85 ms longer
# in a worker than the same call in a long-lived process. Workers keep up to this much
# freed memory for the next job instead; their peak RSS is the same, only held longer.
_KEEP_FREED_BYTES = 256 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit
# The bot's own process moves a 1K job's 1.6-2.2 MB buffers (the answer as it arrives,
# the image back from the worker, SQLite's copy of the blob it inserts), each once, from
# several threads. With glibc's defaults each was a fresh mmap, faulted in page by page:
# ~1,200 page faults per job in the SQLite writer's thread alone, measured here, and
# 1.5-2 ms of a 1K job's main-process CPU. Buffers under 4 MB now come from the heap
# and are reused; 4K originals (~21 MB) still get mmaps of their own that go back to
# the kernel when freed, so the process's peak memory at 4K is what it was.
MAIN_MMAP_THRESHOLD = 4 * 1024 * 1024
MAIN_KEEP_FREED_BYTES = 32 * 1024 * 1024


def keep_freed_memory(
    keep_bytes: int = _KEEP_FREED_BYTES, mmap_threshold: int = _MMAP_THRESHOLD_MAX
) -> None:
    """glibc keeps ``keep_bytes`` of freed memory and mmaps only blocks over ``mmap_threshold``."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): their defaults stand
        return
    mallopt(_M_TRIM_THRESHOLD, keep_bytes)
    mallopt(_M_MMAP_THRESHOLD, mmap_threshold)


_frozen = False


def freeze_heap() -> None:
    """Everything alive now (modules, classes, caches made at start-up) out of the
    collector's reach.

    A full collection walked the ~72,000 objects discord.py, aiohttp and httpx leave at
    start-up every time: measured over a bench run of ~280 1K jobs, two of ~27 ms each,
    each a stalled loop. Frozen, they are never walked (nor freed, which is what
    start-up objects are for). Once per process: a process that opens several bots (the
    test suite) must not make each one's leftovers permanent. Young collections are left
    as they are: a higher threshold saved no CPU measurably, and left more page faults
    per job.
    """
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


_in_flight = 0


@contextlib.contextmanager
def trimmed_when_idle() -> Iterator[None]:
    """Count a job in flight; when the last one ends, return the heap's free pages.

    With buffers under ``MAIN_MMAP_THRESHOLD`` kept in the heap, a burst of 128 1K
    jobs left ~0.25 GB of freed memory resident after it (measured here: the bot
    process at 345 MB, then 465 MB at the next burst of 4K jobs). ``malloc_trim``
    gives it back, only once nothing runs, in a thread: returning ~0.3 GB of pages
    took 30 ms here (ctypes releases the GIL for it). Only when more than
    ``MAIN_TRIM_ABOVE_FREE_BYTES`` is free, though: trimmed after every small burst, the
    next one faulted its buffers in again (see ``_malloc_trim``).
    """
    global _in_flight
    _in_flight += 1
    try:
        yield
    finally:
        _in_flight -= 1
        if _in_flight == 0:
            threading.Thread(target=_malloc_trim, name="malloc-trim", daemon=True).start()


# Freed heap kept across bursts of jobs, up to this much. Measured here in back-to-back
# waves of 8 1K jobs: trimmed after each, the next wave faulted its buffers in again,
# 150-730 page faults per job; kept, 0-80. A burst of 128 leaves ~0.25 GB free, which
# still goes back (16 x 4K after 128 x 1K stays at 0.81 GB all told).
MAIN_TRIM_ABOVE_FREE_BYTES = 64 * 1024 * 1024


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",  # free bytes in the heaps, all arenas summed
            "keepcost",
        )
    ]


def _heap_free_bytes(libc: ctypes.CDLL) -> int | None:
    """Free bytes held in malloc's heaps (glibc >= 2.33), or None when unknown."""
    try:
        mallinfo2 = libc.mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = _MallInfo2
    return int(mallinfo2().fordblks)


def _malloc_trim(keep_bytes: int = MAIN_TRIM_ABOVE_FREE_BYTES) -> bool:
    """``malloc_trim`` when more than ``keep_bytes`` is free; whether it ran."""
    try:
        libc = ctypes.CDLL(None)
        trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return False
    free = _heap_free_bytes(libc)
    if free is not None and free <= keep_bytes:
        return False
    trim(0)
    return True


def _init_worker(niceness: int) -> None:
    _lower_priority(niceness)
    keep_freed_memory()


def _warm_up(hook: Callable[[], object] | None) -> int:
    # Runs once per worker at start, so the first real job does not pay for what the
    # hook loads. The hook comes from the caller: this pool knows nothing of its jobs.
    if hook is not None:
        hook()
    return os.getpid()


class CpuPool:
    """Runs CPU-bound functions in worker processes; ``inline=True`` uses one thread instead.

    Inline mode exists for one-shot tools (the CLI with ``--workers 0``) where starting
    processes costs more than it saves; the bot always uses processes. ``warm_up`` (a
    top-level function) runs in every worker when the pool starts.
    """

    def __init__(
        self,
        max_workers: int | None = None,
        *,
        inline: bool = False,
        niceness: int = WORKER_NICENESS,
        warm_up: Callable[[], object] | None = None,
    ) -> None:
        self._warm_up = warm_up
        self._max_workers = max_workers or default_worker_count()
        self._inline = inline
        self._niceness = niceness
        self._executor: Executor | None = None
        self._small: Executor | None = None
        self._small_busy = 0
        # Done callbacks run in the pools' own threads: busy counts and pool swaps are
        # guarded.
        self._lock = threading.Lock()

    def _process_pool(self, workers: int, niceness: int) -> Executor:
        # forkserver: forking a process that already runs aiosqlite and event-loop
        # threads can copy held locks into the child.
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_worker,
            initargs=(niceness,),
        )

    def _ensure(self) -> Executor:
        with self._lock:
            if self._executor is None:
                if self._inline:
                    self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cpu")
                else:
                    self._executor = self._process_pool(self._max_workers, self._niceness)
            return self._executor

    def _ensure_small(self) -> Executor:
        with self._lock:
            if self._small is None:
                self._small = self._process_pool(1, SMALL_JOB_NICENESS)
            return self._small

    def _drop(self, broken: Executor) -> None:
        # Nothing to shut down: a broken pool has already stopped its workers. The next
        # job starts a new one (without the warm-up: its first job pays for the imports).
        with self._lock:
            if self._executor is broken:
                self._executor = None
            elif self._small is broken:
                self._small = None
            else:
                return  # already replaced
        log.warning("a worker process died; its pool is replaced for the next jobs")

    async def start(self) -> None:
        """Start the workers now rather than on the first job."""
        executor = self._ensure()
        loop = asyncio.get_running_loop()
        warm = [
            loop.run_in_executor(executor, _warm_up, self._warm_up)
            for _ in range(self._max_workers)
        ]
        if not self._inline:
            warm.append(loop.run_in_executor(self._ensure_small(), _warm_up, self._warm_up))
        await asyncio.gather(*warm)

    async def run(self, fn: Callable[..., T], /, *args: Any) -> T:
        """``fn(*args)`` in a worker; raises ``WorkerCrashed`` if the worker dies under it."""
        return await worker_result(self.submit(fn, *args), fn)

    def submit(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """The executor's own future, for callers that must know when the worker is done
        even after they stopped waiting (``worker_result`` to await it)."""
        executor = self._ensure()
        try:
            return executor.submit(fn, *args)
        except BrokenExecutor:
            self._drop(executor)
            return self._ensure().submit(fn, *args)

    def submit_small(self, fn: Callable[..., T], /, *args: Any) -> Future[T]:
        """``submit`` for a job of a few ms (no re-encode): the unniced worker when it is
        idle, else the pool, so a burst of small jobs still runs in parallel."""
        if self._inline:
            return self.submit(fn, *args)
        with self._lock:
            busy = self._small_busy > 0
            if not busy:
                self._small_busy += 1
        if busy:
            return self.submit(fn, *args)
        small = self._ensure_small()
        try:
            future = small.submit(fn, *args)
        except BrokenExecutor:
            self._small_free()
            self._drop(small)
            return self.submit(fn, *args)
        except BaseException:
            self._small_free()
            raise
        future.add_done_callback(functools.partial(self._small_done, small))
        return future

    def _small_done(self, small: Executor, future: Future[Any]) -> None:
        # Dropped before it is free again, so the next small job finds a new worker.
        if not future.cancelled() and isinstance(future.exception(), BrokenExecutor):
            self._drop(small)
        self._small_free()

    def _small_free(self) -> None:
        with self._lock:
            self._small_busy -= 1

    async def close(self) -> None:
        executors = (self._executor, self._small)
        self._executor = self._small = None
        for executor in executors:
            if executor is not None:
                await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

    async def __aenter__(self) -> CpuPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def worker_result(
    future: Future[T], fn: Callable[..., object], message: Message | None = None
) -> T:
    """``fn``'s result from its pool future; a dead worker raises ``WorkerCrashed(message)``."""
    try:
        return await asyncio.wrap_future(future)
    except BrokenExecutor as exc:
        name = getattr(getattr(fn, "func", fn), "__qualname__", type(fn).__name__)
        log.error(
            "a worker process died running %s (out of memory, or a crash in native code)",
            name,
            exc_info=exc,
        )
        raise WorkerCrashed(message) from exc
