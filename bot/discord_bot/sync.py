"""Command sync that spends Discord's quota only when the commands changed.

Discord allows 200 command creates a day per server, and a sync at every start spends
them for nothing. So the payloads (and where they go: globally or to ``DEV_GUILD_ID``)
are hashed, the hash is kept in the store's meta table, and a start with the same hash
sends nothing. A server that got guild copies under an earlier ``DEV_GUILD_ID`` is
remembered too, and cleared once that setting is removed or changed: its copies would
otherwise show every command twice there, beside the global ones.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands

from bot.storage.base import Store

log = logging.getLogger(__name__)

# Store meta keys: the hash of the command set last synced, and the dev server it went to
# (one row per application: its copies there are the one application's to clear).
SYNCED_HASH = "commands.synced_hash"
SYNCED_GUILD = "commands.synced_guild"


async def command_hash(tree: app_commands.CommandTree[Any], guild_id: int | None) -> str:
    """A digest of what a sync to this target would send; stable across processes."""
    guild = discord.Object(id=guild_id) if guild_id else None
    commands = tree._get_all_commands(guild=guild)
    # With the translations: a changed catalog must sync again, like a changed command.
    translator = tree.translator
    if translator is not None:
        payloads = [await c.get_translated_payload(tree, translator) for c in commands]
    else:
        payloads = [command.to_dict(tree) for command in commands]
    payloads.sort(key=lambda c: (c.get("type", 1), c["name"]))
    target = f"guild:{guild_id}" if guild_id else "global"
    # Another application (DISCORD_TOKEN changed) on the same database has no commands yet.
    app = tree.client.application_id
    text = json.dumps([app, target, payloads], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


async def sync_commands(
    tree: app_commands.CommandTree[Any], store: Store, dev_guild_id: int | None
) -> bool:
    """Sync if the command set changed, then clear an earlier dev server; True if synced.

    ``discord.HTTPException`` from the sync itself propagates (the caller says what to do).
    """
    if dev_guild_id:
        tree.copy_global_to(guild=discord.Object(id=dev_guild_id))
    digest = await command_hash(tree, dev_guild_id)
    synced = False
    if await store.get_meta(SYNCED_HASH) == digest:
        log.info("commands unchanged since the last sync: not synced again")
    else:
        guild = discord.Object(id=dev_guild_id) if dev_guild_id else None
        commands = await tree.sync(guild=guild)
        await store.set_meta(SYNCED_HASH, digest)
        where = f"to server {dev_guild_id} (DEV_GUILD_ID)" if dev_guild_id else "globally"
        log.info("synced %d commands %s", len(commands), where)
        synced = True
    guild_key = await _guild_key(store, tree.client.application_id)
    await _clear_earlier_guild(tree, store, dev_guild_id, guild_key)
    if dev_guild_id:
        await store.set_meta(guild_key, str(dev_guild_id))
    return synced


async def _guild_key(store: Store, application_id: int | None) -> str:
    """This application's SYNCED_GUILD row; an unkeyed one (older versions) becomes it."""
    key = f"{SYNCED_GUILD}.{application_id}"
    legacy = await store.get_meta(SYNCED_GUILD)
    if legacy is not None:
        if await store.get_meta(key) is None:
            await store.set_meta(key, legacy)
        await store.set_meta(SYNCED_GUILD, None)
    return key


async def _clear_earlier_guild(
    tree: app_commands.CommandTree[Any], store: Store, dev_guild_id: int | None, guild_key: str
) -> None:
    earlier = await store.get_meta(guild_key)
    if earlier is None or earlier == str(dev_guild_id):
        return
    old = discord.Object(id=int(earlier))
    tree.clear_commands(guild=old)  # the tree holds none for it; an empty list clears Discord's
    try:
        await tree.sync(guild=old)
    except (discord.Forbidden, discord.NotFound):
        # Not in that server any more: nothing this bot can clear, so stop trying.
        log.warning(
            "could not clear the commands an earlier DEV_GUILD_ID left in server %s: "
            "the bot is no longer there",
            earlier,
        )
    except discord.HTTPException as exc:
        log.warning(
            "could not clear the commands an earlier DEV_GUILD_ID left in server %s (%s); "
            "trying again at the next start",
            earlier,
            exc.status,
        )
        return
    else:
        log.info("cleared the commands an earlier DEV_GUILD_ID left in server %s", earlier)
    await store.set_meta(guild_key, None)
