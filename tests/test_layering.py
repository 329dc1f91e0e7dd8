"""The layering: the core runs a whole job without discord, and the check catches a breach."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CORE_CONTRACT = "The core never imports discord, the Discord layer or the cogs"

# A job from its inputs (an image in hand) through the fake gateway into storage, with
# discord unimportable: any import of it anywhere in the core raises ImportError.
WITHOUT_DISCORD = r"""
import asyncio, sys
sys.modules["discord"] = None

from bot.config import BotSettings, ImageSettings
from bot.jobs import JobRunner, JobSpec, SourceImage
from bot.services import open_services
from bot.storage.base import GuildSettings
from bot.workers import CpuPool
from tests.fakes.gateway import FakeGateway, Reply, images_response, png_bytes

async def main(db):
    source, made = png_bytes(8, 8, (9, 9, 9)), png_bytes(16, 16, (1, 2, 3))
    async with FakeGateway(api_key="sk-layering-0123456789") as gw:
        gw.script(Reply(body=images_response([made])))
        settings = BotSettings(
            token="", secret_key="", database_url=f"sqlite:///{db}",
            image=ImageSettings(base_url=gw.base_url, api_key="sk-layering-0123456789"),
        )
        spec = JobSpec(
            kind="edit", guild_id=1, channel_id=2, user_id=3, prompt="make it blue",
            sources=(SourceImage(url="in.png", filename="in.png", data=source),),
        )
        published = []

        async def publish(outcome):
            published.append(outcome)

        async with CpuPool(inline=True) as cpu, open_services(settings, cpu=cpu) as services:
            async with JobRunner(services).admit(spec, GuildSettings(guild_id=1)) as job:
                outcome = await job.run(publish)
            (sha,) = outcome.job.result["outputs"]
            saved = await services.store.get_blob(sha)
            (input_sha,) = outcome.job.params["inputs"]
            saved_input = await services.store.get_blob(input_sha)
        assert gw.requests[0].images == [source], "the input crossed the wire"
    assert [o.job.id for o in published] == [outcome.job.id]
    assert outcome.job.state == "done", outcome.job.state
    assert saved == made and saved_input == source
    assert "discord" not in {m.split(".")[0] for m in sys.modules if sys.modules[m] is not None}
    print("saved", len(saved))

asyncio.run(main(sys.argv[1]))
"""


def test_a_whole_job_runs_with_discord_unimportable(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DISCORD, str(tmp_path / "bot.db")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("saved ")


def _tree(tmp_path: Path) -> Path:
    copy = tmp_path / "tree"
    for name in ("bot", "cogs"):
        shutil.copytree(ROOT / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        capture_output=True,
        text=True,
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        timeout=120,
    )


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter (the dev extra) is missing")
def test_the_check_passes_here_and_fails_on_a_breach(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    clean = _lint(tree)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    jobs = tree / "bot" / "jobs" / "spec.py"
    jobs.write_text(jobs.read_text() + "\nimport discord  # noqa\n")
    broken = _lint(tree)
    assert broken.returncode != 0
    out = " ".join(broken.stdout.split())
    assert f"{CORE_CONTRACT} BROKEN" in out, broken.stdout


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter (the dev extra) is missing")
def test_the_check_fails_on_a_cycle(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    # The vocabulary importing the job layer: a cycle, and a lower layer reaching up.
    types = tree / "bot" / "types.py"
    types.write_text(types.read_text() + "\nimport bot.jobs  # noqa\n")
    broken = _lint(tree)
    assert broken.returncode != 0
    out = " ".join(broken.stdout.split())
    assert "No import cycles between sibling modules BROKEN" in out, broken.stdout
    assert "BROKEN" in out.split("Layers:", 1)[1].split("No import cycles", 1)[0], broken.stdout
