"""``python -m bot generate`` as a user runs it: a real subprocess against the fake gateway."""

from __future__ import annotations

import asyncio
import contextvars
import os
import socket
import sys
from pathlib import Path

import pytest

from bot.cli import LOCALE_VARIABLES, use_environment_locale
from bot.errors import InputImageError
from bot.i18n import DEFAULT_LOCALE, render
from bot.preflight import check_generate_prompt
from tests.fakes.gateway import (
    FakeGateway,
    Reply,
    chat_stream_events,
    google_response,
    images_response,
    jpeg_bytes,
    markdown_response,
    openai_error,
    png_bytes,
    stream_error_event,
)

API_KEY = "sk-cli-test-key-0123456789"
FLASH_4K = (
    "warning: gemini-2.5-flash-image makes 1K images only; --size 4K is sent as asked, "
    "but expect 1K (use --model gemini-3-pro-image-preview for 2K or 4K)"
)


async def run_cli(*args: str, env: dict[str, str] | None = None, cwd: Path) -> tuple[int, str, str]:
    full_env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMAGE_", "DISCORD_"))
        and key not in ("LOG_LEVEL", *LOCALE_VARIABLES)  # the machine's language is not asked
    }
    # A .env in the developer's checkout must not leak into the test.
    full_env["IMAGINE_ENV_FILE"] = str(cwd / "no.env")
    full_env.update(env or {})
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=full_env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    return process.returncode, stdout.decode(), stderr.decode()


async def generate_against(
    gateway: FakeGateway, reply: Reply, env: dict[str, str], tmp_path: Path
) -> tuple[int, str, str]:
    """``generate`` against a gateway that gives ``reply`` to every attempt."""
    gateway.script(reply, reply, reply, reply)
    return await run_cli("generate", "x", "--out", str(tmp_path), env=env, cwd=tmp_path)


@pytest.fixture
async def gateway():
    async with FakeGateway(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture
def project_env(gateway):
    return {"IMAGE_API_BASE_URL": gateway.base_url, "IMAGE_API_KEY": API_KEY}


async def test_generate_saves_each_image_and_prints_its_path(gateway, project_env, tmp_path):
    first, second = png_bytes(12, 8), jpeg_bytes(8, 12)
    gateway.script(Reply(body=markdown_response([first, second], "Here you go.")))

    code, out, err = await run_cli(
        "generate",
        "a cat in a cafe",
        "--aspect-ratio",
        "16:9",
        "--size",
        "2K",
        "--out",
        str(tmp_path / "out"),
        env=project_env,
        cwd=tmp_path,
    )

    assert code == 0, err
    paths = [Path(line) for line in out.splitlines()]
    assert [p.suffix for p in paths] == [".png", ".jpg"]
    assert [p.read_bytes() for p in paths] == [first, second]
    assert "Here you go." in err
    body = gateway.requests[0].json
    assert body["model"] == "gemini-2.5-flash-image"
    assert body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "a cat in a cafe"}]
    # auto speaks both common dialects' size fields; gateways ignore the ones they don't know
    assert body["image_config"] == {"aspect_ratio": "16:9", "image_size": "2K"}
    assert (body["aspect_ratio"], body["image_size"]) == ("16:9", "2K")
    assert gateway.requests[0].headers["authorization"] == f"Bearer {API_KEY}"


async def test_reference_image_crosses_the_wire_and_flags_beat_settings(gateway, tmp_path):
    source = png_bytes(20, 10, (10, 200, 10))
    (tmp_path / "in.png").write_bytes(source)
    gateway.script(Reply(body=google_response([png_bytes(4, 4)])))
    env = {"IMAGE_API_BASE_URL": "http://127.0.0.1:9/v1", "IMAGE_API_KEY": "wrong"}

    code, out, err = await run_cli(
        "generate",
        "make it blue",
        "--image",
        str(tmp_path / "in.png"),
        "--dialect",
        "google",
        "--base-url",
        gateway.google_base_url,
        "--api-key",
        API_KEY,
        "--model",
        "gemini-3-pro-image-preview",
        "--out",
        str(tmp_path),
        env=env,
        cwd=tmp_path,
    )

    assert code == 0, err
    recorded = gateway.requests[0]
    assert recorded.path == "/v1beta/models/gemini-3-pro-image-preview:generateContent"
    assert recorded.images == [source]
    assert len(out.splitlines()) == 1


async def test_stream_setting_and_flag(gateway, project_env, tmp_path):
    # IMAGE_API_STREAM=on asks the google route for SSE; --stream off beats the setting.
    env = {**project_env, "IMAGE_API_BASE_URL": gateway.google_base_url, "IMAGE_API_STREAM": "on"}
    await run_cli("generate", "a fox", "--dialect", "google", env=env, cwd=tmp_path)
    assert gateway.requests[0].path == "/v1beta/models/gemini-2.5-flash-image:streamGenerateContent"

    gateway.script(Reply(body=markdown_response([png_bytes(4, 4)])))
    env = {**project_env, "IMAGE_API_STREAM": "on"}
    code, out, err = await run_cli(
        "generate", "a fox", "--stream", "off", "--out", str(tmp_path), env=env, cwd=tmp_path
    )
    assert code == 0, err
    assert gateway.requests[1].json["stream"] is False

    code, _, err = await run_cli("generate", "a fox", "--stream", "always", cwd=tmp_path)
    assert code == 2 and "--stream: invalid choice: 'always'" in err


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(status=401, body=openai_error("Invalid API key", code="invalid_api_key")),
            # The gateway's words now sit between the sentence and the advice.
            "error: The image service rejected the API key. The service said: "
            "Invalid API key. Check IMAGE_API_KEY (or --api-key).",
        ),
        (Reply(body=markdown_response([], "I can't draw that.")), "I can't draw that."),
        (Reply(status=200, body="<html>oops</html>", content_type="text/html"), "error: "),
    ],
    ids=["bad-key", "refusal", "junk"],
)
async def test_failures_are_one_error_line_and_a_nonzero_exit(
    gateway, project_env, tmp_path, reply, expected
):
    code, out, err = await generate_against(gateway, reply, project_env, tmp_path)

    assert code == 1
    assert out == ""
    lines = [line for line in err.splitlines() if not line.startswith("generating")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert expected in lines[0]
    assert "Traceback" not in err
    assert API_KEY not in err
    assert list(tmp_path.iterdir()) == []


async def test_non_image_is_refused_before_any_request(gateway, project_env, tmp_path):
    (tmp_path / "notes.png").write_text("definitely not a picture")

    code, _, err = await run_cli(
        "generate", "x", "--image", str(tmp_path / "notes.png"), env=project_env, cwd=tmp_path
    )

    assert code == 1
    assert err.startswith("error: ") and "not an image" in err
    assert gateway.requests == []


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        (
            ("generate", "x"),
            {},
            "error: IMAGE_API_BASE_URL, IMAGE_API_KEY are not set (see .env.example); no .env at ",
        ),
        (("generate", "x", "--image", "missing.png"), None, "error: cannot read image missing.png"),
        (("generate", "x", "--size", "8K"), None, "error: argument --size"),
        (("generate", "x", "--timeout", "0"), None, "error: --timeout must be"),
    ],
)
async def test_usage_and_setup_mistakes_are_sentences(project_env, tmp_path, args, env, expected):
    code, out, err = await run_cli(*args, env=project_env if env is None else env, cwd=tmp_path)

    assert code != 0
    assert out == ""
    assert err.startswith(expected), err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


async def test_unreachable_gateway_says_so(tmp_path):
    env = {"IMAGE_API_BASE_URL": "http://127.0.0.1:9/v1", "IMAGE_API_KEY": API_KEY}

    code, _, err = await run_cli("generate", "x", "--timeout", "5", env=env, cwd=tmp_path)

    assert code == 1
    assert err.splitlines()[-1].startswith("error: ")
    assert "Traceback" not in err


def _pixels(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size


async def _generate_4k_16_9(env: dict[str, str], tmp_path: Path, *flags: str):
    return await run_cli(
        "generate",
        "a wide valley",
        *flags,
        "--size",
        "4K",
        "--aspect-ratio",
        "16:9",
        "--out",
        str(tmp_path),
        env=env,
        cwd=tmp_path,
    )


@pytest.mark.parametrize(
    ("model", "delivered", "warning"),
    [
        (
            "gemini-3-pro-image-preview",
            (1024, 1024),
            "warning: Asked for 4K 16:9, the gateway returned 1024×1024.",
        ),
        ("gemini-3-pro-image-preview", (5504, 3072), None),
        # 2.5 Flash makes 1K whatever is asked: its 1K 16:9 is what it can do (and the
        # CLI said so before the call, FLASH_4K).
        ("gemini-2.5-flash-image", (1344, 768), None),
        (
            "gemini-2.5-flash-image",
            (1024, 1024),
            "warning: Asked for 16:9, the gateway returned 1024×1024.",
        ),
    ],
)
async def test_an_ignored_size_is_a_warning_line_and_the_image_is_saved(
    gateway, project_env, tmp_path, model, delivered, warning
):
    gateway.script(Reply(body=markdown_response([png_bytes(*delivered)])))

    code, out, err = await _generate_4k_16_9(project_env, tmp_path, "--model", model)

    assert code == 0, err
    (path,) = [Path(line) for line in out.splitlines()]
    assert _pixels(path) == delivered
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    before = [FLASH_4K] if model == "gemini-2.5-flash-image" else []
    assert warnings == before + ([warning] if warning else [])


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if not line.startswith("generating")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                body={
                    "error": {
                        "code": "BALANCE-LOW",
                        "message": f"your balance is too low (key {API_KEY})",
                        "type": "insufficient_quota",
                    }
                }
            ),
            "error: The image service account is out of credit. The service said: BALANCE-LOW: "
            "your balance is too low (key [redacted]). "
            "Top up the gateway account, or use another with --base-url.",
        ),
        (
            Reply(
                status=400,
                body=openai_error(
                    "Provider returned error",
                    code=400,
                    metadata={"raw": '{"error":{"message":"Unsupported image size 8K"}}'},
                ),
            ),
            "error: The image service did not accept the request (HTTP 400). "
            "The service said: Unsupported image size 8K.",
        ),
        (
            Reply(
                status=500,
                body={
                    "error": {"message": "empty response from Gemini API", "type": "new_api_error"}
                },
            ),
            "error: The image service is down or overloaded right now (HTTP 500). "
            "Try again in a minute. The service said: empty response from Gemini API.",
        ),
    ],
    ids=["200-balance-with-echoed-key", "openrouter-raw", "new-api-500"],
)
async def test_the_gateway_words_are_on_the_error_line(
    gateway, project_env, tmp_path, reply, expected
):
    code, out, err = await generate_against(gateway, reply, project_env, tmp_path)

    assert (code, out) == (1, "")
    assert one_error_line(err) == expected
    assert API_KEY not in err


async def test_transport_failures_are_sentences_with_the_host(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    refused = {"IMAGE_API_BASE_URL": f"http://127.0.0.1:{port}/v1", "IMAGE_API_KEY": API_KEY}
    unresolvable = {"IMAGE_API_BASE_URL": "https://gw.invalid/v1", "IMAGE_API_KEY": API_KEY}

    results = await asyncio.gather(
        run_cli("generate", "x", env=refused, cwd=tmp_path),
        run_cli("generate", "x", env=unresolvable, cwd=tmp_path),
    )

    assert [code for code, _, _ in results] == [1, 1]
    assert [one_error_line(err) for _, _, err in results] == [
        f"error: The image service at 127.0.0.1:{port} refused the connection.",
        "error: The image service's host name gw.invalid does not resolve (DNS lookup failed).",
    ]


async def test_a_body_cut_off_mid_way_says_how_much_arrived(tmp_path):
    async def handler(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")]
        await reader.readexactly(int(length[0].split(b":")[1]))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b" " * 2048)
        await writer.drain()
        await asyncio.sleep(0.5)  # the client takes in what arrived, then the line drops
        writer.transport.abort()

    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    env = {"IMAGE_API_BASE_URL": f"http://127.0.0.1:{port}/v1", "IMAGE_API_KEY": API_KEY}
    async with server:
        code, _, err = await run_cli("generate", "x", env=env, cwd=tmp_path)

    assert code == 1  # after the retries, each of which met the same cut
    assert one_error_line(err) == (
        f"error: The image service at 127.0.0.1:{port} cut its answer off after 2,048 bytes."
    )


@pytest.mark.parametrize("label", ["text/event-stream", "application/json"])
async def test_a_streamed_answer_is_saved_whatever_its_label(gateway, project_env, tmp_path, label):
    # An OpenRouter-style stream to a stream:false request, in pieces that split its lines.
    image = png_bytes(48, 32, (12, 34, 56))
    events = chat_stream_events(images_response([image], "Done."), keepalives=2)
    gateway.script(Reply(sse=events, content_type=label, pieces=(1, 200), piece_delay=0.001))

    code, out, err = await run_cli(
        "generate", "a swatch", "--out", str(tmp_path), env=project_env, cwd=tmp_path
    )

    assert code == 0, err
    (path,) = [Path(line) for line in out.splitlines()]
    assert path.read_bytes() == image
    assert "Done." in err  # the model's text goes to stderr
    assert gateway.requests[0].json["stream"] is False


async def test_an_error_event_mid_stream_is_the_error_line(gateway, project_env, tmp_path):
    events = chat_stream_events(images_response([png_bytes(8, 8)]))
    gateway.script(
        Reply(
            sse=[*events[:2], stream_error_event("Key limit exceeded", code="insufficient_quota")]
        )
    )
    code, out, err = await run_cli(
        "generate", "a swatch", "--out", str(tmp_path), env=project_env, cwd=tmp_path
    )
    assert (code, out) == (1, "")
    assert one_error_line(err) == (
        "error: The image service account is out of credit. The service said: "
        "insufficient_quota: Key limit exceeded. Top up the gateway account, or use another "
        "with --base-url."
    )
    assert list(tmp_path.glob("*.png")) == []


async def test_plain_cannot_ask_for_a_size_and_the_warning_names_dialect(
    gateway, project_env, tmp_path
):
    gateway.script(Reply(body=markdown_response([png_bytes(1024, 1024)])))

    code, out, err = await _generate_4k_16_9(
        project_env, tmp_path, "--model", "gemini-3-pro-image-preview", "--dialect", "plain"
    )

    assert code == 0, err
    (request,) = gateway.requests
    assert not {"image_config", "image_size", "aspect_ratio"} & set(request.json)
    (path,) = [Path(line) for line in out.splitlines()]
    assert _pixels(path) == (1024, 1024)
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: The `plain` dialect cannot ask for 4K 16:9, so the gateway made 1024×1024; "
        "pick another with --dialect (or IMAGE_API_DIALECT)."
    ]


@pytest.mark.parametrize("lang", [{"LANG": "C"}, {"LANG": "C.UTF-8", "LC_ALL": "POSIX"}, {}])
async def test_the_cli_speaks_english_for_c_posix_or_no_language(project_env, tmp_path, lang):
    code, _, err = await run_cli(
        "generate", "x", "--timeout", "0", env={**project_env, **lang}, cwd=tmp_path
    )

    assert code == 1
    assert err == "error: --timeout must be a positive number of seconds\n"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"LANG": "ja_JP.UTF-8"}, "ja"),
        ({"LANG": "pt_PT.UTF-8"}, "pt-BR"),  # the nearest Portuguese shipped
        ({"LANG": "nl_NL"}, "en-US"),  # no Dutch: English
        ({"LANG": "zh_TW.UTF-8"}, "zh-TW"),
        ({"LC_ALL": "fr_FR.UTF-8", "LC_MESSAGES": "ko_KR.UTF-8", "LANG": "de_DE.UTF-8"}, "fr"),
        ({"LC_MESSAGES": "ko_KR.UTF-8", "LANG": "de_DE.UTF-8"}, "ko"),
        ({"LC_ALL": "", "LC_MESSAGES": "", "LANG": "de_DE.UTF-8"}, "de"),  # empty is unset
        ({"LC_ALL": "C", "LANG": "ja_JP.UTF-8"}, "en-US"),  # the first set one decides
        ({"LANG": "POSIX"}, "en-US"),
        ({}, "en-US"),
    ],
)
def test_the_cli_language_is_lc_all_then_lc_messages_then_lang(monkeypatch, environ, expected):
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)

    # In a copy of the context: the locale set here must not leak into other tests.
    assert contextvars.copy_context().run(use_environment_locale) == expected


def _empty_prompt_error(code: str) -> str:
    """The preflight's sentence for an empty prompt, in ``code`` (and not the English)."""
    with pytest.raises(InputImageError) as refused:
        check_generate_prompt("   ")
    words = render(refused.value.message, code)
    assert words != render(refused.value.message, DEFAULT_LOCALE), f"{code} lacks it"
    return words


@pytest.mark.catalogs
@pytest.mark.parametrize(
    ("lang", "code"),
    [({"LANG": "ja_JP.UTF-8"}, "ja"), ({"LC_ALL": "de_DE.UTF-8", "LANG": "en_US.UTF-8"}, "de")],
    ids=["LANG=ja", "LC_ALL=de-over-LANG=en"],
)
async def test_the_cli_error_line_is_in_the_environment_language(
    gateway, project_env, tmp_path, lang, code
):
    status, out, err = await run_cli(
        "generate", "   ", "--out", str(tmp_path), env={**project_env, **lang}, cwd=tmp_path
    )

    assert status == 1
    assert out == ""
    assert err == f"error: {_empty_prompt_error(code)}\n"
    assert gateway.requests == []
