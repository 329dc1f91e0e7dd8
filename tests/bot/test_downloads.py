"""Attachment downloads: capped while streaming, refused early on Discord's metadata."""

from __future__ import annotations

import pytest

from bot.errors import ImageTooLarge, NotAnImage
from bot.jobs import SourceImage
from tests.harness import BotHarness


async def test_download_stops_at_the_cap(running_bot: BotHarness) -> None:
    h = running_bot
    url = h.fake.host_file(
        h.fake.channel["id"], "1", "big.png", b"\x89PNG" + b"\0" * 200_000, "image/png"
    )
    # size unknown (as for a replied-to message fetched without metadata): the stream is cut
    with pytest.raises(ImageTooLarge, match="big.png is larger than"):
        await h.bot.jobs.download(SourceImage(url=url, filename="big.png"), cap=64 * 1024)


async def test_metadata_refusals_fetch_nothing(running_bot: BotHarness) -> None:
    h = running_bot
    before = len(h.fake.find("GET /cdn/*"))
    with pytest.raises(ImageTooLarge, match="huge.png is 40 MB"):
        SourceImage(
            url="http://127.0.0.1:9/x", filename="huge.png", size=40 * 1024 * 1024
        ).precheck()
    with pytest.raises(NotAnImage, match="drawing.svg is an SVG"):
        SourceImage(
            url="http://127.0.0.1:9/x", filename="drawing.svg", content_type="image/svg+xml"
        ).precheck()
    with pytest.raises(NotAnImage, match="a.pdf is not an image"):
        SourceImage(
            url="http://127.0.0.1:9/x", filename="a.pdf", content_type="application/pdf"
        ).precheck()
    assert len(h.fake.find("GET /cdn/*")) == before


async def test_empty_attachment_is_refused(running_bot: BotHarness) -> None:
    h = running_bot
    st = await h.result(await h.fake.slash("imagine", {"prompt": "x", "image": ("empty.png", b"")}))
    assert "empty" in st.last_message.content
    assert h.gw.requests == []
