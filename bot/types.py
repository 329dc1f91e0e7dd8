"""The project's shared vocabulary: frozen data and the closed sets of values every layer uses.

Imports nothing of the project, so any module may import it without a cycle. Everything
here is picklable, because requests are built and responses parsed in the CPU worker
processes (see ``bot.workers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DIALECTS = ("auto", "openrouter", "flat", "plain", "google")
# auto: ask for a plain answer, switch once if the gateway says it only streams; on: always
# ask for a stream; off: never. A streamed answer is read in every mode.
STREAM_MODES = ("auto", "on", "off")
# A server's privacy setting: members choose (private:, /preferences), or every result is
# private (ephemeral) or public whatever they ask (``bot.jobs.privacy``).
PRIVACY_MODES = ("members", "private", "public")

# Gemini image models accept these ratios; 3.1 Flash adds the extreme ones.
ASPECT_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
EXTREME_ASPECT_RATIOS = ("1:4", "4:1", "1:8", "8:1")
IMAGE_SIZES = ("1K", "2K", "4K")

# Gemini 2.5 Flash Image renders 1K only. Its Google ids carry this mark, whatever gateways
# put around it: "gemini-2.5-flash-image" (ai.google.dev/gemini-api/docs/nanobanana, seed
# 001's model list), "gemini-2.5-flash-image-preview" (retired 2025-10-30,
# shared/docs/market.md), "google/gemini-2.5-flash-image" (OpenRouter, Vercel AI Gateway).
FLASH_IMAGE_25_MARK = "2.5-flash-image"
# Its other names, matched whole on the id's last path segment with an OpenRouter-style
# ":variant" dropped. "nano-banana": resellers' model lists (the new-api style gateways
# behind ai.t8star.cn and comfly, fal's "fal-ai/nano-banana"), next to "nano-banana-pro"
# (3 Pro Image) and "nano-banana-2" (3.1 Flash Image), which take 2K and 4K. Left out:
# "nano-banana-hd" (comfly sells it as its 4K variant) and "nano-banana-preview" (seen
# naming both 2.5 Flash and 3 Pro).
FLASH_IMAGE_25_ALIASES = frozenset({"nano-banana"})

MIME_EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/heic": "heic",
    "image/heif": "heif",
}


@dataclass(frozen=True)
class GatewayConfig:
    """One gateway: where it is, how to talk to it. Adding a gateway is configuration."""

    base_url: str
    api_key: str = field(repr=False)
    dialect: str = "auto"
    stream: str = "auto"
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_body: Mapping[str, Any] = field(default_factory=dict)
    timeout: float = 180.0
    max_retries: int = 2
    # Per-server gateways set from Discord must not reach the host's network;
    # the operator's own gateway (from the environment) may.
    allow_private_network: bool = True

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {self.dialect!r}")
        if self.stream not in STREAM_MODES:
            raise ValueError(f"unknown stream mode {self.stream!r}")


@dataclass(frozen=True)
class InputImage:
    """An image ready to send: already validated, normalised and within the caps."""

    data: bytes = field(repr=False)
    mime: str
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier turn of a channel's edit chain, as replayed to the gateway.

    ``model_turn`` is the assistant turn as the gateway returned it (for the google
    dialect: the candidate's ``content`` with every part, thoughtSignature included, but
    the interim thought images), with inline image data already restored.
    """

    prompt: str
    inputs: tuple[InputImage, ...] = ()
    outputs: tuple[InputImage, ...] = ()
    model_text: str = ""
    model_turn: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ImageRequest:
    model: str
    prompt: str
    images: tuple[InputImage, ...] = ()
    aspect_ratio: str | None = None
    image_size: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    history: tuple[HistoryTurn, ...] = ()


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes = field(repr=False)
    mime: str
    width: int
    height: int
    # The same image already re-encoded under the upload limit (by the worker that
    # parsed it), when ``data`` is over that limit; ``data`` stays the original.
    fitted: GeneratedImage | None = field(default=None, repr=False, compare=False)

    @property
    def extension(self) -> str:
        return MIME_EXTENSIONS.get(self.mime, "bin")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None


@dataclass(frozen=True)
class ImageResult:
    images: tuple[GeneratedImage, ...]
    text: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None
    # The assistant turn as received, for verbatim replay. Inline image data is
    # replaced by {"$blob": sha256} references into ``blobs`` so that multi-MB
    # base64 is not carried twice; see bot.gateway.turns.
    raw_turn: Mapping[str, Any] | None = None
    blobs: Mapping[str, bytes] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Preview:
    """What a streamed answer shows while the model still thinks: never a result.

    ``image`` is a small JPEG of the latest interim thought image (None: none yet, or
    unchanged since the last preview), ``text`` one line of the latest thought text.
    """

    image: bytes | None = field(default=None, repr=False)
    text: str | None = None
