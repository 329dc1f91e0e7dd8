"""/settings: per-server configuration for members with Manage Server."""

from __future__ import annotations

from typing import Any

from cogs.settings import redaction
from cogs.settings.cog import SettingsCog


async def setup(bot: Any) -> None:
    redaction.install()
    await bot.add_cog(SettingsCog(bot))
