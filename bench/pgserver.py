"""A PostgreSQL for the scaling section: the one named, else a throwaway one of our own.

``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL`` names a server to use; without either,
``.ci/with-postgres`` (the tests' script: unix socket in a temp dir, fsync off) starts one
for the run and stops it when we close its stdin. Each configuration gets a database of
its own, so no run starts on another's rows. The server's CPU is read from /proc when it
runs on this machine: it shares the cores with the bot processes it serves.
"""

from __future__ import annotations

import glob
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from bench.procs import ROOT
from bench.proctree import tree

URL_VARIABLES = ("BENCH_DATABASE_URL", "TEST_DATABASE_URL")
_TICKS = os.sysconf("SC_CLK_TCK")
# Prints the URL, then holds the server up until our end of its stdin closes.
_HOLD = 'printf "%s\\n" "$TEST_DATABASE_URL"; exec cat >/dev/null'


class NoPostgres(Exception):
    """No PostgreSQL to measure against; the message says why, for the skip line."""


def _binaries() -> str | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return found[-1] if found else None


@contextmanager
def server_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's maintenance database (``postgres``)."""
    for name in URL_VARIABLES:
        if os.environ.get(name):
            yield os.environ[name]
            return
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        raise NoPostgres("asyncpg is not installed (pip install -e '.[postgres]')") from None
    if _binaries() is None:
        raise NoPostgres(
            "no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql), "
            f"and neither {' nor '.join(URL_VARIABLES)} is set"
        )
    proc = subprocess.Popen(
        ["bash", str(ROOT / ".ci" / "with-postgres"), "sh", "-c", _HOLD],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("postgresql://"):
            raise NoPostgres("the throwaway PostgreSQL did not start (its lines are above)")
        yield url
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (query: the socket's host dir, kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def fresh_database(url: str, name: str) -> tuple[str, int | None]:
    """Database ``name`` created empty on ``url``'s server: (its URL, the server's pid).

    The pid is the postmaster's, found as the parent of our session's backend; None when
    the server is not on this machine (then its CPU is not measured).
    """
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
        # Looked up while the session lives: its backend exits with it.
        postmaster = _parent(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()
    return with_database(url, name), postmaster


async def drop_database(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def activity(conn, name: str) -> tuple[int, int]:
    """(transactions ended, rows written) in database ``name`` so far, from the server's
    statistics: each backend reports them within about a second of going idle."""
    row = await conn.fetchrow(
        "SELECT xact_commit + xact_rollback AS xacts, "
        "tup_inserted + tup_updated + tup_deleted AS rows "
        "FROM pg_stat_database WHERE datname = $1",
        name,
    )
    return (int(row["xacts"]), int(row["rows"])) if row is not None else (0, 0)


def _stat_fields(pid: int) -> list[bytes] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2 :].split()


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _parent(pid: int) -> int | None:
    """The postmaster of backend ``pid``, if both are postgres processes on this machine (a
    remote server's backend pid may name some unrelated local process)."""
    fields = _stat_fields(pid)
    if fields is None or _comm(pid) != "postgres":
        return None
    parent = int(fields[1])
    return parent if _comm(parent) == "postgres" else None


def server_cpu_s(postmaster: int | None) -> float | None:
    """CPU seconds of the server so far: its live processes, plus the backends it reaped
    (their time lands in the postmaster's cutime + cstime when they exit)."""
    if postmaster is None:
        return None
    total = 0.0
    for pid in tree(postmaster):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
        if pid == postmaster:
            total += int(fields[13]) + int(fields[14])  # cutime, cstime
    return total / _TICKS
