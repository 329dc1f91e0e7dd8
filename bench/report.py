"""The printed table, the JSON file and the verdict against the targets."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import targets as T
from bench.fixtures import STREAM_SHAPES
from bench.targets import Check, at_least, at_most

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _ms(v: float | None) -> str:
    return "n/a" if v is None else f"{v * 1000:.0f}" if v >= 0.0995 else f"{v * 1000:.1f}"


def _x(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}x"


def _mb(v: float | None) -> str:
    return "n/a" if v is None else f"{v / 1e6:.1f}"


def _db(v: float | None) -> str:
    if v is None:
        return "n/a"
    return "lossless" if math.isinf(v) else f"{v:.1f}"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *map(line, rows)])


def _streamed(row: dict) -> bool:
    return row["shape"] in STREAM_SHAPES


def pipeline_table(rows: list[dict]) -> str:
    headers = [
        "size",
        "shape",
        "body MB",
        "floor ms",
        "project ms",
        "vs floor",
        "ref ms",
        "vs ref",
        "sdk e2e ms",
        "proj e2e ms",
        "vs sdk",
        "out MB",
        "q/sub",
        "PSNR dB",
    ]
    out = []
    for r in rows:
        if _streamed(r):
            continue
        qs = "-" if r["jpeg_quality"] is None else f"{r['jpeg_quality']}/{r['jpeg_subsampling']}"
        out.append(
            [
                r["size"],
                r["shape"],
                _mb(r["body_bytes"]),
                _ms(r["floor_s"]),
                _ms(r["project_s"]),
                _x(r["ratio_vs_floor"]),
                _ms(r["reference_s"]),
                _x(r["ratio_vs_reference"]),
                _ms(r["sdk_total_s"]),
                _ms(r["project_total_s"]),
                _x(r["ratio_vs_sdk"]),
                _mb(r["out_bytes"]),
                qs,
                _db(r["psnr_db"]),
            ]
        )
    return _table(headers, out)


def stream_table(rows: list[dict]) -> str:
    headers = [
        "size",
        "shape",
        "body MB",
        "non-streamed ms",
        "streamed ms",
        "vs non-streamed",
        "proj e2e ms",
        "out MB",
        "PSNR dB",
        "error",
    ]
    return _table(
        headers,
        [
            [
                r["size"],
                r["shape"],
                _mb(r["body_bytes"]),
                _ms(r["nonstream_s"]),
                _ms(r["project_s"]),
                _x(r["ratio_vs_nonstream"]),
                _ms(r["project_total_s"]),
                _mb(r["out_bytes"]),
                _db(r["psnr_db"]),
                (r.get("error") or "-")[:60],
            ]
            for r in rows
            if _streamed(r)
        ],
    )


def load_table(scenarios: list[dict]) -> str:
    headers = [
        "scenario",
        "elapsed s",
        "lag p99 ms",
        "lag max ms",
        "idle p99 ms",
        "probe p50 ms",
        "probe p99 ms",
        "probe max ms",
        "peak RSS MB",
        "procs",
    ]
    out = []
    for s in scenarios:
        out.append(
            [
                f"{s['jobs']} x {s['size']} {s.get('via', 'no Discord')}",
                f"{s['elapsed_s']:.1f}",
                _ms(s["lag_p99_s"]),
                _ms(s["lag_max_s"]),
                _ms(s["idle_lag_p99_s"]),
                _ms(s["probe_median_s"]),
                _ms(s["probe_p99_s"]),
                _ms(s["probe_max_s"]),
                _mb(s["peak_rss_bytes"]),
                str(s["peak_rss_processes"]),
            ]
        )
    return _table(headers, out)


def e2e_table(rows: list[dict]) -> str:
    headers = [
        "size",
        "runs",
        "errors",
        "overhead p50 ms",
        "overhead p95 ms",
        "scripted delay ms",
        "upload MB",
    ]
    return _table(
        headers,
        [
            [
                r["size"],
                str(r["runs"]),
                str(r["errors"]),
                _ms(r["median_s"]),
                _ms(r["p95_s"]),
                _ms(r["delay_s"]),
                _mb(r["upload_bytes"]),
            ]
            for r in rows
        ],
    )


def throughput_table(rows: list[dict]) -> str:
    """Each figure beside its floor from the same run, in parentheses."""
    headers = [
        "wave",
        "channels",
        "elapsed s",
        "jobs/s (floor)",
        "main CPU ms/job net (raw)",
        "floor ms",
        "worker CPU ms/job",
        "answer->upload p50 / p99 ms",
        "1 job alone ms",
        "ack p99 ms (idle)",
        "RSS MB",
        "tmpfs spool MB",
        "RSS+tmpfs MB",
        "disk spool MB",
        "1 answer MB",
    ]
    return _table(
        headers,
        [
            [
                f"{r['jobs']} x {r['size']}",
                str(r["channels"]),
                f"{r['elapsed_s']:.1f}",
                f"{r['jobs_per_s']:.1f} ({r['floor_jobs_per_s']:.0f})",
                f"{_ms(r['main_cpu_net_per_job_s'])} ({_ms(r['main_cpu_per_job_s'])})",
                _ms(r["cpu_floor_per_job_s"]),
                _ms(r["worker_cpu_per_job_s"]),
                f"{_ms(r['answer_to_upload_p50_s'])} / {_ms(r['answer_to_upload_p99_s'])}",
                _ms(r["alone_answer_to_upload_s"]),
                f"{_ms(r['ack_p99_s'])} ({_ms(r['idle_ack_p99_s'])})",
                _mb(r["peak_rss_bytes"]),
                _mb(r["peak_spool_bytes"]),
                _mb(r["peak_total_bytes"]),
                _mb(r["peak_disk_spool_bytes"]),
                _mb(r["answer_bytes"]),
            ]
            for r in rows
        ],
    )


def _cores(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def scaling_table(rows: list[dict]) -> str:
    headers = [
        "config",
        "wave",
        "delivered",
        "jobs/s",
        "floor jobs/s",
        "ack p99 ms",
        "answer->upload p50 ms",
        "p99 ms",
        "main CPU ms/job",
        "worker CPU ms/job",
        "PG CPU ms/job",
        "PG xacts/job",
        "harness CPU ms/job",
        "busiest main cores",
        "loop waited %",
        "our cores",
        "others' cores",
        "RSS MB",
    ]
    return _table(
        headers,
        [
            [
                r["config"],
                f"{r['waves']} x {r['jobs']} x {r['size']}",
                f"{r['delivered']}/{r['total_jobs']}",
                f"{r['jobs_per_s']:.1f}",
                f"{r['floor_jobs_per_s']:.0f}",
                _ms(r["ack_p99_s"]),
                _ms(r["answer_to_upload_p50_s"]),
                _ms(r["answer_to_upload_p99_s"]),
                _ms(r["main_cpu_per_job_s"]),
                _ms(r["worker_cpu_per_job_s"]),
                _ms(r["server_cpu_per_job_s"]) if r["backend"] != "sqlite" else "-",
                "-" if r["pg_xacts_per_job"] is None else f"{r['pg_xacts_per_job']:.1f}",
                _ms(r["harness_cpu_per_job_s"]),
                _cores(r["busiest_main_cores"]),
                f"{r['most_waiting_loop_share'] * 100:.0f}",
                _cores(r["ours_cores"]),
                _cores(r["others_cores"]),
                _mb(r["peak_rss_bytes"]),
            ]
            for r in rows
        ],
    )


def _scaling_checks(rows: list[dict]) -> list[Check]:
    """No targets for speed here (issue 14 sets none): only that no job was lost."""
    return [
        at_least(
            f"scaling {r['config']}, {r['waves']} x {r['jobs']}: jobs delivered",
            r["delivered"],
            r["total_jobs"],
        )
        for r in rows
    ]


def _throughput_checks(rows: list[dict]) -> list[Check]:
    out: list[Check] = []
    for r in rows:
        tag = f"{r['jobs']}x{r['size']} in {r['channels']} channels"
        if r["uploads"] < r["jobs"]:
            out.append(at_least(f"{tag}: uploads", r["uploads"], r["jobs"]))
        if r["size"] == "1K":
            out.append(
                at_most(
                    f"{tag}: main CPU per job",
                    r["main_cpu_net_per_job_s"] * 1000,
                    T.MAX_MAIN_CPU_PER_1K_JOB_S * 1000,
                    " ms",
                    f"(net of {r['acks']} probes at {r['probe_cpu_s'] * 1000:.1f} ms; "
                    f"raw {r['main_cpu_per_job_s'] * 1000:.1f} ms; "
                    f"floor {r['cpu_floor_per_job_s'] * 1000:.1f} ms)",
                )
            )
        if r["size"] == "1K" and r["jobs"] == 128:
            p99 = r["answer_to_upload_p99_s"]
            out.append(
                at_most(
                    f"{tag}: answer->upload p99",
                    None if p99 is None else p99 * 1000,
                    T.MAX_ANSWER_TO_UPLOAD_P99_128_1K_S * 1000,
                    " ms",
                )
            )
        out.append(
            at_most(
                f"{tag}: ack p99",
                None if r["ack_p99_s"] is None else r["ack_p99_s"] * 1000,
                T.MAX_WAVE_ACK_P99_S * 1000,
                " ms",
            )
        )
        if r["size"] == "4K" and r["jobs"] == 16:
            out.append(
                at_most(
                    f"{tag}: peak RSS + tmpfs spool",
                    r["peak_total_bytes"] / 1e6,
                    T.MAX_PEAK_16_4K_TOTAL_BYTES / 1e6,
                    " MB",
                    f"(disk-spooled bodies, page cache: {r['peak_disk_spool_bytes'] / 1e6:.0f} MB)",
                )
            )
    return out


def throughput_verdicts(rows: list[dict]) -> str:
    """Every section-5 target, met or MISSED, one per line."""
    return "\n".join(
        f"  {'met   ' if c.ok else 'MISSED'} {c.line()}" for c in _throughput_checks(rows)
    )


def checks(results: dict[str, Any]) -> list[Check]:
    out: list[Check] = []
    for r in results.get("pipeline", []):
        tag = f"{r['size']}/{r['shape']}"
        if _streamed(r):
            out.append(
                at_most(
                    f"streamed {tag} vs non-streamed",
                    r["ratio_vs_nonstream"],
                    T.STREAM_RATIO_VS_NONSTREAM,
                    "x",
                    r.get("error") or "",
                )
            )
            continue
        if r["over_limit"]:
            out.append(
                at_most(
                    f"pipeline {tag} vs floor+decode+encode",
                    r["ratio_vs_reference"],
                    T.REENCODE_RATIO_VS_REFERENCE,
                    "x",
                )
            )
            out.append(at_most(f"output {tag} bytes", r["out_bytes"], T.UPLOAD_LIMIT_BYTES, " B"))
            out.append(at_least(f"output {tag} PSNR", r["psnr_db"], T.MIN_PSNR_DB, " dB"))
            out.append(
                at_least(f"output {tag} dimensions kept", float(bool(r["out_dims_kept"])), 1.0)
            )
        else:
            out.append(
                at_most(f"pipeline {tag} vs floor", r["ratio_vs_floor"], T.FIT_RATIO_VS_FLOOR, "x")
            )
        out.append(
            Check(
                f"project {tag} faster than openai SDK",
                r["ratio_vs_sdk"],
                T.MAX_RATIO_VS_SDK,
                "x",
                r["ratio_vs_sdk"] is not None and r["ratio_vs_sdk"] < T.MAX_RATIO_VS_SDK,
            )
        )
    stall = results.get("stall")
    if stall is not None:
        out.append(
            at_most("loop lag p99 under 8x4K", stall.get("lag_p99_s"), T.MAX_LAG_P99_S, " s")
        )
        out.append(
            at_most("loop lag max under 8x4K", stall.get("lag_max_s"), T.MAX_LAG_MAX_S, " s")
        )
        out.append(
            at_most(
                "/settings show ack p99 under 8x4K", stall.get("ack_p99_s"), T.MAX_ACK_P99_S, " s"
            )
        )
        out.append(at_least("8x4K jobs uploaded", stall.get("uploads"), T.STALL_JOBS))
    rss = results.get("rss")
    if rss is not None:
        out.append(at_most("peak RSS 16x4K", rss.get("peak_16_bytes"), T.MAX_PEAK_RSS_BYTES, " B"))
        out.append(
            at_most(
                "peak RSS 16x4K vs 2.5 x (1 job) + payloads",
                rss.get("peak_16_bytes"),
                rss.get("growth_bound_bytes") or 0,
                " B",
            )
        )
    e2e = {r["size"]: r for r in results.get("e2e", [])}
    if "e2e" in results:
        out.append(
            at_most(
                "end-to-end overhead 1K median",
                e2e.get("1K", {}).get("median_s"),
                T.MAX_E2E_OVERHEAD_1K_MEDIAN_S,
                " s",
            )
        )
        for r in results["e2e"]:
            out.append(
                at_least(
                    f"end-to-end {r['size']} uploads within the limit",
                    float(bool(r["uploads_within_limit"]) and not r["errors"]),
                    1.0,
                )
            )
    out += _throughput_checks(results.get("throughput", []))
    out += _scaling_checks(results.get("scaling", {}).get("rows", []))
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else "-inf" if v < 0 else "nan"
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def write_json(results: dict[str, Any], path: Path | None = None) -> Path:
    path = path or RESULTS_DIR / "latest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(results), indent=1))
    return path
