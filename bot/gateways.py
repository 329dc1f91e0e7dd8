"""Which gateway a server's jobs go to, with which key and model; and its model list."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from bot.errors import ConfigError
from bot.logging_setup import remember_secret
from bot.storage.base import GuildSettings, Store
from bot.types import GatewayConfig

if TYPE_CHECKING:
    from bot.config import ImageSettings
    from bot.gateway.client import GatewayClient
    from bot.runtime.base import ModelCache
    from bot.secrets import KeyBox

NO_KEYBOX = "SECRET_KEY is not set, so this server's own gateway key cannot be read"


def gateway_key(config: GatewayConfig) -> str:
    """The model cache's key for a gateway: never the API key itself, only a digest."""
    digest = hashlib.sha256(config.api_key.encode()).hexdigest()[:12]
    return f"{config.base_url}|{config.dialect}|{digest}"


class Gateways:
    """The operator's gateway, or a server's own; model lists cached per gateway."""

    def __init__(
        self,
        image: ImageSettings,
        store: Store,
        keybox: KeyBox | None,
        client: GatewayClient,
        cache: ModelCache,
    ) -> None:
        self.image = image
        self.store = store
        self.keybox = keybox
        self.client = client
        self.cache = cache

    async def resolve(
        self, guild_id: int | None, settings: GuildSettings | None = None
    ) -> tuple[GatewayConfig, str]:
        """The guild's own gateway if it set one, else the operator's; and the model to use."""
        if settings is None and guild_id is not None:
            settings = await self.store.get_settings(guild_id)
        image = self.image
        model = (settings.model if settings else None) or image.model
        if settings is not None and settings.has_own_gateway:
            if self.keybox is None:
                raise ConfigError(NO_KEYBOX)
            key = self.keybox.decrypt(settings.gateway_key_encrypted or b"")
            # Shaped like any credential or none: the log filter has to be told.
            remember_secret(key)
            config = GatewayConfig(
                base_url=settings.gateway_base_url or "",
                api_key=key,
                dialect=settings.gateway_dialect or "auto",
                stream=settings.gateway_stream or image.stream,
                timeout=image.timeout,
                allow_private_network=image.allow_private_gateways,
            )
            return config, model
        return image.gateway(), model

    async def models(self, guild_id: int | None) -> list[str]:
        """The model ids of the gateway this guild uses, from the runtime's cache.

        Keyed by address, dialect and key digest, so a changed gateway is never
        answered from the old one's list.
        """
        config, _ = await self.resolve(guild_id)
        return await self.cache.models(gateway_key(config), lambda: self.client.list_models(config))
