"""Starting the bench's helper processes and collecting what they print."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The fake gateway appends ``<job> <time the answer left>`` here for the throughput section.
ANSWER_LOG = Path(tempfile.gettempdir()) / f"bench-answers-{os.getpid()}.log"


def _spawn(module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


@contextmanager
def fake_gateway(sizes: list[str]) -> Iterator[str]:
    """A fake gateway process serving ``sizes``; yields its base URL (``.../v1``)."""
    ANSWER_LOG.unlink(missing_ok=True)
    proc = _spawn("bench.serve", ",".join(sizes), str(ANSWER_LOG))
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"fake gateway did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ANSWER_LOG.unlink(missing_ok=True)
