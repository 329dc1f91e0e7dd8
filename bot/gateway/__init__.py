"""The image-gateway client: dialects, request building, response parsing.

Public names are imported lazily: worker processes that only parse responses should
not pay for httpx. The data it speaks in (``ImageRequest``, ``ImageResult``...) lives
in ``bot.types``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "GatewayClient": "bot.gateway.client",
    "model_ids": "bot.gateway.model_list",
    "build_request": "bot.gateway.dialects",
    "auth_headers": "bot.gateway.dialects",
    "get_dialect": "bot.gateway.dialects",
    "PreparedRequest": "bot.gateway.dialects",
    "Dialect": "bot.gateway.dialects",
    "parse_response": "bot.gateway.parsing",
    "ParsedResponse": "bot.gateway.parsing",
    "map_error": "bot.gateway.errors_map",
    "ensure_public_url": "bot.gateway.netguard",
    "is_public_address": "bot.gateway.netguard",
    "strip_inline_data": "bot.gateway.turns",
    "restore_inline_data": "bot.gateway.turns",
    "blob_refs": "bot.gateway.turns",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.gateway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
