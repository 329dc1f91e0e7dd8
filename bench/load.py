"""Sections 2 and 3: event-loop stall and peak memory under concurrent 4K jobs.

Each scenario runs in a fresh process (bench.scenario) so its RSS peak and its
loop are its own. From here, outside that process, we sample the summed RSS of
its process tree (bot process + forkserver + pool workers) and time a one-byte
echo on its loop every 20 ms: how long a cheap piece of work waits meanwhile.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading

from bench.procs import ROOT
from bench.proctree import TreeSampler
from bench.stats import median, now, percentile

PROBE_INTERVAL_S = 0.02


class Prober(threading.Thread):
    def __init__(self, port: int) -> None:
        super().__init__(name="probe", daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.waits: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(PROBE_INTERVAL_S):
            t = now()
            try:
                self.sock.sendall(b"x")
                if not self.sock.recv(1):
                    return
            except OSError:  # the scenario finished and closed its loop
                return
            self.waits.append(now() - t)

    def finish(self) -> list[float]:
        self.stop.set()
        self.join()
        self.sock.close()
        return self.waits


def scenario(base_url: str, size: str, shape: str, jobs: int) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.scenario", base_url, size, shape, str(jobs)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        port = int(proc.stdout.readline().split()[1])
        with TreeSampler(proc.pid) as sampler:
            if proc.stdout.readline().strip() != "READY":
                raise RuntimeError("scenario did not start")
            idle_rss = sampler.peak
            prober = Prober(port)
            prober.start()
            proc.stdin.write("go\n")
            proc.stdin.flush()
            lines = proc.stdout.read().strip().splitlines()
            waits = prober.finish()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"scenario {size} x{jobs} failed (exit {proc.returncode})")
    result = json.loads(lines[-1])
    lags = result.pop("lags")
    idle = result.pop("idle_lags")
    result.update(
        size=size,
        shape=shape,
        lag_p99_s=percentile(lags, 99),
        lag_max_s=max(lags) if lags else None,
        lag_ticks=len(lags),
        idle_lag_p99_s=percentile(idle, 99),
        probe_median_s=median(waits),
        probe_p99_s=percentile(waits, 99),
        probe_max_s=max(waits) if waits else None,
        probes=len(waits),
        peak_rss_bytes=sampler.peak,
        peak_rss_processes=sampler.peak_processes,
        ready_rss_bytes=idle_rss,
        rss_samples=sampler.samples,
    )
    return result
