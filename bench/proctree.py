"""Resident memory of a whole process tree, read from /proc (Linux).

The CPU pool's workers are children of the forkserver, not of the bot, so
``RUSAGE_CHILDREN`` would miss them (and it reports the largest child, not the
sum). Sampling VmRSS over the live tree counts every process; pages shared
between processes are counted once per process, so the figure errs high.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses; fields resume after the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    return children


def tree(root: int) -> list[int]:
    children = _children_map()
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack.extend(children.get(pid, ()))
    return out


def rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class TreeSampler:
    """Samples the summed RSS of ``root`` and its descendants in a background thread."""

    def __init__(
        self, root: int, interval: float = 0.01, extra: Callable[[], int] | None = None
    ) -> None:
        self.root = root
        # Memory no process's RSS shows (the tmpfs spool), sampled beside it; peaks kept apart.
        self.extra = extra
        self.peak_extra = 0
        self.peak_total = 0
        self.interval = interval
        self.peak = 0
        self.peak_processes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._pids: list[int] = [root]
        self._last_scan = 0.0

    def _run(self) -> None:
        while not self._stop.is_set():
            # Walking all of /proc is the costly part; the tree changes rarely.
            if time.monotonic() - self._last_scan > 0.25:
                self._pids = tree(self.root)
                self._last_scan = time.monotonic()
            total = sum(rss_bytes(p) for p in self._pids)
            self.samples += 1
            if total > self.peak:
                self.peak, self.peak_processes = total, len(self._pids)
            if self.extra is not None:
                extra = self.extra()
                self.peak_extra = max(self.peak_extra, extra)
                self.peak_total = max(self.peak_total, total + extra)
            self._stop.wait(self.interval)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
