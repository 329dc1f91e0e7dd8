"""Every refusal ``generate`` can make beforehand is made before the paid call: zero requests."""

from __future__ import annotations

import os
import sys

import pytest

from tests.fakes.gateway import Reply, markdown_response, openai_error, png_bytes
from tests.test_cli import API_KEY, gateway, run_cli
from tests.test_cli import project_env as env

__all__ = ["env", "gateway"]  # the fixtures, shared with test_cli


async def refused(gateway, env, tmp_path, *args: str) -> str:
    """The one ``error:`` line of a ``generate`` that must not have reached the gateway."""
    code, out, err = await run_cli("generate", *args, env=env, cwd=tmp_path)
    assert (code, out) == (1, ""), err
    assert gateway.requests == []
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("prompt", ["", "   ", "\t\n"])
async def test_an_empty_prompt_is_refused(gateway, env, tmp_path, prompt):
    assert await refused(gateway, env, tmp_path, prompt) == (
        "error: the prompt is empty; say what to draw (or, with --image, what to change)"
    )


async def test_an_out_path_that_is_a_file_is_refused(gateway, env, tmp_path):
    (tmp_path / "taken.png").write_bytes(b"x")
    assert await refused(gateway, env, tmp_path, "a cat", "--out", "taken.png") == (
        "error: --out taken.png is a file, not a folder; give a folder to save images in"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
async def test_a_read_only_out_folder_is_refused(gateway, env, tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        line = await refused(gateway, env, tmp_path, "a cat", "--out", "locked")
    finally:
        folder.chmod(0o700)
    assert line == (
        "error: cannot save images in the folder locked: Permission denied; "
        "choose another with --out"
    )


async def test_an_out_folder_under_a_file_is_refused(gateway, env, tmp_path):
    (tmp_path / "file").write_bytes(b"x")
    assert await refused(gateway, env, tmp_path, "a cat", "--out", "file/sub") == (
        "error: cannot save images in the folder file/sub: Not a directory; "
        "choose another with --out"
    )


async def test_a_file_that_is_not_an_image_is_named(gateway, env, tmp_path):
    (tmp_path / "photo.txt").write_text("just words")
    assert await refused(gateway, env, tmp_path, "x", "--image", "photo.txt") == (
        "error: photo.txt is not an image I can read; use a PNG, JPEG, WEBP, GIF or HEIC file"
    )


async def test_a_missing_and_a_folder_input_are_named(gateway, env, tmp_path):
    (tmp_path / "pics").mkdir()
    assert await refused(gateway, env, tmp_path, "x", "--image", "gone.png") == (
        "error: cannot read image gone.png: No such file or directory"
    )
    assert await refused(gateway, env, tmp_path, "x", "--image", "pics") == (
        "error: pics is a folder, not an image file"
    )


@pytest.mark.skipif(sys.platform == "darwin", reason="macOS refuses non-UTF-8 file arguments")
async def test_invalid_utf8_in_the_prompt_is_a_sentence(gateway, env, tmp_path):
    prompt = os.fsdecode(b"a caf\xe9 at night")  # Latin-1, as an old terminal sends it
    assert await refused(gateway, env, tmp_path, prompt) == (
        "error: the prompt is not valid UTF-8 text (a stray byte at character 6); "
        "check the terminal's or the script's encoding"
    )


async def test_an_extreme_ratio_the_model_cannot_make_is_refused(gateway, env, tmp_path):
    assert await refused(gateway, env, tmp_path, "x", "--aspect-ratio", "1:8") == (
        "error: gemini-2.5-flash-image cannot make 1:8 images; only "
        "gemini-3.1-flash-image-preview does (use --model gemini-3.1-flash-image-preview, "
        "or another --aspect-ratio)"
    )


async def test_every_missing_setting_at_once_and_where_env_was_looked_for(gateway, tmp_path):
    line = await refused(gateway, {}, tmp_path, "a cat")
    assert line == (
        "error: IMAGE_API_BASE_URL, IMAGE_API_KEY are not set (see .env.example); "
        f"no .env at {tmp_path / 'no.env'}"
    )


async def test_a_1k_only_model_asked_for_2k_is_warned_before_the_call(gateway, env, tmp_path):
    gateway.script(Reply(body=markdown_response([png_bytes(1024, 1024)])))
    code, out, err = await run_cli(
        "generate", "a cat", "--size", "2K", env={**env, "LOG_LEVEL": "INFO"}, cwd=tmp_path
    )
    assert code == 0, err
    lines = err.splitlines()
    assert lines[0] == (
        "warning: gemini-2.5-flash-image makes 1K images only; --size 2K is sent as asked, "
        "but expect 1K (use --model gemini-3-pro-image-preview for 2K or 4K)"
    )
    assert lines[1].startswith("generating with gemini-2.5-flash-image")
    # The default folder is out/, which .gitignore lists; httpx's request line stays quiet.
    assert out.startswith("out/imagine-") and (tmp_path / out.strip()).is_file()
    assert not [line for line in lines if "HTTP Request" in line]
    assert len(gateway.requests) == 1


async def test_a_json_404_invalid_url_blames_the_base_url(gateway, tmp_path):
    gateway.script(Reply(status=404, body=openai_error("Invalid URL (POST /v1/chat/completion)")))
    code, _, err = await run_cli(
        "generate",
        "a cat",
        env={"IMAGE_API_BASE_URL": gateway.base_url, "IMAGE_API_KEY": API_KEY},
        cwd=tmp_path,
    )
    assert code == 1
    assert err.splitlines()[-1] == (
        "error: The image service address answered 404 Not Found; check the gateway base URL. "
        "The service said: Invalid URL (POST /v1/chat/completion)."
    )


async def test_help_has_examples_and_version_is_printed(tmp_path):
    code, out, _ = await run_cli("generate", "--help", cwd=tmp_path)
    assert code == 0
    assert 'python -m bot generate "make it night" --image out/' in out
    code, out, _ = await run_cli("--version", cwd=tmp_path)
    assert code == 0 and out.startswith("imagine-bot ")
