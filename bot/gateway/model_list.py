"""A gateway's model list: OpenAI's ``data[].id``, Google's ``models[].name`` or a plain list."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from bot.errors import MalformedResponse
from bot.gateway.error_body import body_error, find_error
from bot.gateway.errors_map import map_error
from bot.gateway.exchange import retry_after_header
from bot.i18n import _

# A model list is a few hundred KB at most; parsed on the loop, so keep it small.
MAX_MODELS_BYTES = 4 * 1024 * 1024


def read_model_list(status: int, response_headers: httpx.Headers, body: bytes) -> list[str]:
    """The ids in a model-list answer, or the project's error for it."""
    try:
        payload: Any = orjson.loads(body)
        is_json = True
    except orjson.JSONDecodeError:
        payload, is_json = None, False
    error = body_error(payload, body) if status >= 400 else find_error(payload)
    if status >= 400 or error is not None:
        raise map_error(
            status, error, is_json=is_json, retry_after=retry_after_header(response_headers)
        )
    if not is_json:
        raise MalformedResponse(_("The image service sent a model list that is not JSON."))
    return model_ids(payload)


def model_ids(payload: Any) -> list[str]:
    """Ids from ``{"data": [{"id"}]}``, ``{"models": [{"name"}]}`` or a plain list."""
    items: Any = payload
    if isinstance(payload, Mapping):
        items = payload.get("data")
        if not isinstance(items, list):
            items = payload.get("models")
    if not isinstance(items, list):
        raise MalformedResponse(_("The image service sent a model list I could not understand."))
    ids: list[str] = []
    for item in items:
        name = item
        if isinstance(item, Mapping):
            name = item.get("id") or item.get("name")
        if isinstance(name, str) and name:
            name = name[len("models/") :] if name.startswith("models/") else name
            if name not in ids:
                ids.append(name)
    return ids
