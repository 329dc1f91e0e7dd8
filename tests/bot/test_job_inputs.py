"""How a job gathers its inputs from the store (a real SQLite store, no Discord)."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from PIL import Image

from bot.jobs import JobRunner, JobSpec
from bot.storage import open_store


def _png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (3, 2), color).save(out, "PNG")
    return out.getvalue()


async def test_stored_inputs_are_read_not_rewritten(tmp_path: Path) -> None:
    store = await open_store(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        # A mime the bytes do not sniff as: the row, not a re-sniff, says what it is.
        first = await store.put_blob(_png("red"), "image/x-stored", 3, 2)
        second = await store.put_blob(_png("blue"), "image/png", 3, 2)
        writes: list[Any] = []
        real_put = store.put_blob

        async def put_blob(*args: Any, **kwargs: Any) -> Any:
            writes.append(args)
            return await real_put(*args, **kwargs)

        store.put_blob = put_blob  # type: ignore[method-assign]
        runner = JobRunner(SimpleNamespace(store=store))  # type: ignore[arg-type]
        spec = JobSpec(
            kind="edit",
            guild_id=1,
            channel_id=2,
            user_id=3,
            prompt="p",
            input_shas=(first.sha256, second.sha256),
        )
        inputs = await runner._inputs(spec, (), replays_outputs=False)
    finally:
        await store.close()
    assert writes == []
    assert inputs.stored == [first, second]
    assert [(i.data, i.mime, i.width, i.height) for i in inputs.images] == [
        (_png("red"), "image/x-stored", 3, 2),
        (_png("blue"), "image/png", 3, 2),
    ]
