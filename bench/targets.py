"""The performance targets of issues 5 and 10, as named constants, and the check against them."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024
# Discord's default per-file upload limit (bots without a boosted server).
UPLOAD_LIMIT_BYTES = 10 * MIB

# Pipeline cost ("body received" -> "bytes ready to upload").
FIT_RATIO_VS_FLOOR = 1.5  # 1K/2K results already under the limit: <= 1.5x json.loads + b64decode
REENCODE_RATIO_VS_REFERENCE = 1.3  # 4K over the limit: <= 1.3x (floor + 1 decode + 1 encode)
MIN_PSNR_DB = 40.0
# Faster than the openai-SDK path at every size: project / sdk must stay below this.
MAX_RATIO_VS_SDK = 1.0
# Issue 10: a streamed answer costs at most this much more than the same image not streamed.
STREAM_RATIO_VS_NONSTREAM = 1.3

# Event loop under 8 concurrent 4K jobs.
STALL_JOBS = 8
TICK_INTERVAL_S = 0.005
MAX_LAG_P99_S = 0.020
MAX_LAG_MAX_S = 0.050
MAX_ACK_P99_S = 0.050

# Memory.
RSS_JOBS = 16
MAX_PEAK_RSS_BYTES = 1200 * 1000 * 1000  # "1.2 GB"
RSS_GROWTH_FACTOR = 2.5  # peak(16) <= 2.5 x peak(1) + the in-flight payloads

# End to end through the fake Discord, minus the gateway's scripted delay.
MAX_E2E_OVERHEAD_1K_MEDIAN_S = 0.050


@dataclass
class Check:
    name: str
    value: float | None
    limit: float
    unit: str
    ok: bool
    note: str = ""

    def line(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.3g}{self.unit}"
        note = " " + self.note if self.note else ""
        return f"{self.name}: {shown} (limit {self.limit:.3g}{self.unit}){note}"


def at_most(name: str, value: float | None, limit: float, unit: str = "", note: str = "") -> Check:
    """A value that must not exceed ``limit``; an unmeasured value is a miss."""
    return Check(name, value, limit, unit, value is not None and value <= limit, note)


def at_least(name: str, value: float | None, limit: float, unit: str = "", note: str = "") -> Check:
    return Check(name, value, limit, unit, value is not None and value >= limit, note)


# Issue 12: throughput (section 5). Main-process CPU per 1K job, at every wave size.
MAX_MAIN_CPU_PER_1K_JOB_S = 0.008
MAX_ANSWER_TO_UPLOAD_P99_128_1K_S = 0.600  # 128 simultaneous 1K answers
MAX_WAVE_ACK_P99_S = 0.050
MAX_PEAK_16_4K_TOTAL_BYTES = 1000 * 1000 * 1000  # "1.0 GB all told": RSS + tmpfs spool
