"""Order statistics and a monotonic stopwatch; nothing here allocates per sample."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Sequence

now = time.perf_counter


def median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def percentile(xs: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (p in 0..100): the value at least p% of samples do not exceed."""
    if not xs:
        return None
    ordered = sorted(xs)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b
