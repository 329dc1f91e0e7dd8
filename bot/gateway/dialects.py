"""What each gateway dialect sends: URL, headers and JSON body of one generation.

A dialect only shapes the request; every response shape is accepted whatever the
dialect (see ``bot.gateway.parsing``).

Dialects (``GatewayConfig.dialect``):

``openrouter``  chat completions + ``modalities: ["image", "text"]`` + top-level
                ``image_config: {aspect_ratio, image_size}`` (seed 002).
``flat``        chat completions + top-level ``aspect_ratio`` / ``image_size`` (seed 001).
``plain``       chat completions with standard OpenAI fields only (seeds 000, 003); for
                strict gateways that reject unknown fields. Aspect ratio and size are
                not sent: there is no standard field for them.
``google``      native ``POST {base}/models/{model}:generateContent`` with
                ``contents`` / ``generationConfig`` (seed 002's compatible route);
                ``:streamGenerateContent?alt=sse`` when streaming is on.
``auto``        (default) chat completions carrying *both* the openrouter fields and the
                flat fields. Seed 002 requires ``modalities`` ("Do not forget
                modalities") and reads ``image_config``; seed 001 reads top-level
                ``aspect_ratio``/``image_size``; seed 000 merely says Gemini fields are
                "not needed", and OpenAI-compatible gateways ignore fields they do not
                know. So the union works on all four seed gateways, and a gateway that
                does reject unknown fields is what ``plain`` is for.

Every chat dialect sends ``model``, ``messages``, ``stream`` and, when given,
``temperature`` / ``max_tokens``. The current turn is a user message whose content is
the prompt string when there are no images (the form every seed shows), else content
parts: one ``text`` part then one ``image_url`` part per image as a ``data:`` URI
(gateways do not fetch URLs; seed 001).

Streaming (``GatewayConfig.stream``). ``on`` asks for a stream: chat dialects send
``stream: true`` and nothing else new (no ``stream_options``: strict gateways reject
fields they do not know), ``google`` posts to ``:streamGenerateContent?alt=sse``.
``auto`` and ``off`` send the non-streaming request (``stream: false``,
``:generateContent``); ``auto`` may be switched to ``on`` by the client when a gateway
says it only streams (see ``bot.gateway.client``). The mode shapes the request only: a
streamed answer is read whatever was asked for.

URLs. ``IMAGE_API_BASE_URL`` is the OpenAI-style base, e.g. ``https://host/v1``;
chat posts to ``{base}/chat/completions``. A base with no path at all gets ``/v1``
(seed 002 tells users of another client to enter the bare host), and a base that
already ends in ``/chat/completions`` is used as is. For ``google`` the base should be
``https://host/v1beta``; forgivingly, a bare host gets ``/v1beta`` and a trailing
``/v1`` becomes ``/v1beta``, so one base URL serves both routes of a gateway like seed
002's. Model ids may hold a slash (``google/gemini-3-pro-image``) and go into the path
unescaped, as seed 002's route expects; a leading ``models/`` is dropped.

History replay (``ImageRequest.history``, oldest first):

* ``google`` replays each earlier turn verbatim: a user turn (its prompt text and
  ``inlineData`` of its input images), then the stored ``model_turn`` as the gateway
  returned it, every part and ``thoughtSignature`` included but the interim thought
  images (dropped when stored: drafts are never replayed); Gemini 3 rejects
  edits whose image parts lost their signature. A turn without a stored
  ``model_turn`` gets one rebuilt from its text and output images (no signatures).
  The previous output images therefore reach the model inside the replayed model
  turns; the caller need not repeat them in ``request.images``.
* chat dialects replay earlier turns as text only: user prompt, then an assistant
  message with the model's text (or a short placeholder when it only drew). Chat
  gateways cannot take images in assistant messages, so the caller puts the previous
  output image(s) into ``request.images`` of the current turn.

``GatewayConfig.extra_headers`` are sent as given, and ``extra_body`` is merged into the
top level of the body last, so an operator can add or override any field.

The API key is not part of ``PreparedRequest``: ``build_request`` runs in a worker
process and the key must not travel there; ``auth_headers`` is applied on the
event-loop side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from bot.images.inputs import b64, data_uri
from bot.types import GatewayConfig, HistoryTurn, ImageRequest, InputImage

CHAT_PATH = "/chat/completions"
# Assistant text for an earlier chat turn that returned only an image: some gateways
# reject empty assistant messages, and roles must alternate for Gemini.
IMAGE_PLACEHOLDER = "(image)"


@dataclass(frozen=True)
class PreparedRequest:
    """A request ready to send, minus the API key."""

    method: str
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)


class Dialect(Protocol):
    name: str
    # Whether the body carries aspect_ratio and image_size: a gateway cannot be blamed
    # for ignoring what it was never asked.
    sends_size_fields: bool

    def url(self, base_url: str, model: str, *, stream: bool = False) -> str: ...

    def models_url(self, base_url: str) -> str: ...

    def body(self, request: ImageRequest, *, stream: bool = False) -> dict[str, Any]: ...

    def auth_headers(self, api_key: str) -> dict[str, str]: ...


def _with_default_path(base_url: str, default_path: str) -> str:
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=default_path))
    return base


def chat_base(base_url: str) -> str:
    base = _with_default_path(base_url, "/v1")
    if base.endswith(CHAT_PATH):
        base = base[: -len(CHAT_PATH)]
    return base


def google_base(base_url: str) -> str:
    base = _with_default_path(base_url, "/v1beta")
    if base.endswith("/v1"):
        base = base[: -len("/v1")] + "/v1beta"
    return base


def _model_path(model: str) -> str:
    model = model.strip().strip("/")
    return model[len("models/") :] if model.startswith("models/") else model


def _bearer(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


class ChatDialect:
    """OpenAI chat completions; subclasses add the image fields their gateways read."""

    name = "plain"
    sends_size_fields = False

    def url(self, base_url: str, model: str, *, stream: bool = False) -> str:
        return chat_base(base_url) + CHAT_PATH

    def models_url(self, base_url: str) -> str:
        return chat_base(base_url) + "/models"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        return _bearer(api_key)

    def body(self, request: ImageRequest, *, stream: bool = False) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        for turn in request.history:
            messages.append({"role": "user", "content": turn.prompt})
            messages.append({"role": "assistant", "content": turn.model_text or IMAGE_PLACEHOLDER})
        messages.append({"role": "user", "content": _chat_content(request.prompt, request.images)})
        body: dict[str, Any] = {"model": request.model, "messages": messages, "stream": stream}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body.update(self.image_fields(request))
        return body

    def image_fields(self, request: ImageRequest) -> dict[str, Any]:
        return {}


def _chat_content(prompt: str, images: tuple[InputImage, ...]) -> str | list[dict[str, Any]]:
    if not images:
        return prompt
    parts: list[dict[str, Any]] = [{"type": "text", "text": prompt}]
    for image in images:
        parts.append({"type": "image_url", "image_url": {"url": data_uri(image)}})
    return parts


def _image_config(request: ImageRequest, ratio_key: str, size_key: str) -> dict[str, Any]:
    """Aspect ratio and size under the names a dialect uses; absent when not asked for."""
    config = {}
    if request.aspect_ratio:
        config[ratio_key] = request.aspect_ratio
    if request.image_size:
        config[size_key] = request.image_size
    return config


def _openrouter_fields(request: ImageRequest) -> dict[str, Any]:
    fields: dict[str, Any] = {"modalities": ["image", "text"]}
    config = _image_config(request, "aspect_ratio", "image_size")
    if config:
        fields["image_config"] = config
    return fields


def _flat_fields(request: ImageRequest) -> dict[str, Any]:
    return _image_config(request, "aspect_ratio", "image_size")


class PlainDialect(ChatDialect):
    name = "plain"


class OpenRouterDialect(ChatDialect):
    name = "openrouter"
    sends_size_fields = True

    def image_fields(self, request: ImageRequest) -> dict[str, Any]:
        return _openrouter_fields(request)


class FlatDialect(ChatDialect):
    name = "flat"
    sends_size_fields = True

    def image_fields(self, request: ImageRequest) -> dict[str, Any]:
        return _flat_fields(request)


class AutoDialect(ChatDialect):
    name = "auto"
    sends_size_fields = True

    def image_fields(self, request: ImageRequest) -> dict[str, Any]:
        return {**_openrouter_fields(request), **_flat_fields(request)}


class GoogleDialect:
    name = "google"
    sends_size_fields = True

    def url(self, base_url: str, model: str, *, stream: bool = False) -> str:
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{google_base(base_url)}/models/{_model_path(model)}:{method}"

    def models_url(self, base_url: str) -> str:
        return google_base(base_url) + "/models"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        # Google reads x-goog-api-key; gateways fronting it usually want Bearer.
        return {"x-goog-api-key": api_key, **_bearer(api_key)}

    def body(self, request: ImageRequest, *, stream: bool = False) -> dict[str, Any]:
        # Google streams by URL, not by a body field.
        contents: list[Any] = []
        for turn in request.history:
            contents.append(_google_user_turn(turn.prompt, turn.inputs))
            contents.append(_google_model_turn(turn))
        contents.append(_google_user_turn(request.prompt, request.images))
        config: dict[str, Any] = {"responseModalities": ["TEXT", "IMAGE"]}
        image_config = _image_config(request, "aspectRatio", "imageSize")
        if image_config:
            config["imageConfig"] = image_config
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        return {"contents": contents, "generationConfig": config}


def _inline(image: InputImage) -> dict[str, Any]:
    return {"inlineData": {"mimeType": image.mime, "data": b64(image.data)}}


def _google_user_turn(prompt: str, images: tuple[InputImage, ...]) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": prompt}, *(_inline(i) for i in images)]}


def _google_model_turn(turn: HistoryTurn) -> Any:
    if turn.model_turn is not None:
        # Gemini wants a role on every turn of a multi-turn request; all else is verbatim.
        return {"role": "model", **turn.model_turn}
    parts: list[dict[str, Any]] = []
    if turn.model_text:
        parts.append({"text": turn.model_text})
    parts.extend(_inline(image) for image in turn.outputs)
    return {"role": "model", "parts": parts or [{"text": IMAGE_PLACEHOLDER}]}


DIALECT_CLASSES: dict[str, type] = {
    "auto": AutoDialect,
    "openrouter": OpenRouterDialect,
    "flat": FlatDialect,
    "plain": PlainDialect,
    "google": GoogleDialect,
}


def sends_size_fields(name: str) -> bool:
    """Whether dialect ``name`` puts aspect_ratio and image_size on the wire."""
    return name in DIALECT_CLASSES and get_dialect(name).sends_size_fields


def get_dialect(name: str) -> Dialect:
    try:
        return DIALECT_CLASSES[name]()
    except KeyError:
        raise ValueError(f"unknown dialect {name!r}") from None


def build_request(gateway: GatewayConfig, request: ImageRequest) -> PreparedRequest:
    """URL, headers (no key) and serialised body; top-level so it can run in a worker."""
    dialect = get_dialect(gateway.dialect)
    stream = gateway.stream == "on"
    body = dialect.body(request, stream=stream)
    body.update(gateway.extra_body)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    headers.update(gateway.extra_headers)
    return PreparedRequest(
        method="POST",
        url=dialect.url(gateway.base_url, request.model, stream=stream),
        headers=headers,
        body=orjson.dumps(body, default=_json_default),
    )


def _json_default(value: Any) -> Any:
    # Stored turns may come back as read-only mappings.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def auth_headers(gateway: GatewayConfig, headers: Mapping[str, str]) -> dict[str, str]:
    """``headers`` plus the key, unless extra_headers already carry that header."""
    present = {name.lower() for name in headers}
    merged = dict(headers)
    for name, value in get_dialect(gateway.dialect).auth_headers(gateway.api_key).items():
        if name.lower() not in present:
            merged[name] = value
    return merged
