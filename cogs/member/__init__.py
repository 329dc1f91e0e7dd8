"""/me and /preferences: what a member has, has left, has running, and prefers."""

from __future__ import annotations

from typing import Any

from cogs.member.cog import Member


async def setup(bot: Any) -> None:
    await bot.add_cog(Member(bot))
