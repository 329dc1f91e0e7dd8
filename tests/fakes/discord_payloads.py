"""Builders for Discord payloads with real snowflakes, shaped as discord.py 2.7 parses them.

Why one long module: it is one job, the payload vocabulary of one protocol, a flat list
of small builders that build on each other (a message holds a member, an interaction
holds a message and a guild). Every caller reads it as one namespace (``p.member``,
``p.slash_command``); split by entity, callers would import the same vocabulary twice.
"""

from __future__ import annotations

import datetime
import io
import itertools
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import discord

Payload = dict[str, Any]

MIB = 1024 * 1024
# Per-file upload limit by guild boost tier (discord.py 2.7 `Guild._PREMIUM_GUILD_LIMITS`).
UPLOAD_LIMIT_BY_TIER = {0: 10 * MIB, 1: 10 * MIB, 2: 50 * MIB, 3: 100 * MIB}

# Option types (Discord ApplicationCommandOptionType).
SUB_COMMAND, SUB_COMMAND_GROUP, STRING, INTEGER, BOOLEAN = 1, 2, 3, 4, 5
USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 6, 7, 8, 9, 10, 11

# Interaction types.
APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5

EVERYONE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    read_message_history=True,
    attach_files=True,
    embed_links=True,
    add_reactions=True,
    use_application_commands=True,
    use_external_emojis=True,
)
BOT_PERMISSIONS = EVERYONE_PERMISSIONS | discord.Permissions(
    manage_messages=True, send_messages_in_threads=True
)

_sequence = itertools.count()


def snowflake(when: datetime.datetime | None = None) -> str:
    """A unique snowflake dated `when` (default now), so `created_at`/`expires_at` are right."""
    base = discord.utils.time_snowflake(when or discord.utils.utcnow())
    return str(base | (next(_sequence) & 0x3FFFFF))


def snowflake_on_shard(shard_id: int, num_shards: int) -> str:
    """A snowflake of the last few milliseconds that shard ``shard_id`` of ``num_shards`` owns.

    A server's shard is ``(id >> 22) % num_shards`` and ``id >> 22`` is the creation
    time in milliseconds: step back to the latest millisecond with the right remainder.
    """
    millis = discord.utils.time_snowflake(discord.utils.utcnow()) >> 22
    millis -= (millis - shard_id) % num_shards
    return str((millis << 22) | (next(_sequence) & 0x3FFFFF))


def iso_now() -> str:
    return discord.utils.utcnow().isoformat()


def _perm_value(permissions: discord.Permissions | int | None) -> int:
    if permissions is None:
        return 0
    return permissions.value if isinstance(permissions, discord.Permissions) else int(permissions)


# --- users, roles, channels, guilds -------------------------------------------------------------


def user(
    username: str = "someone",
    *,
    id: str | None = None,
    bot: bool = False,
    global_name: str | None = None,
) -> Payload:
    return {
        "id": id or snowflake(),
        "username": username,
        "discriminator": "0",
        "global_name": global_name,
        "avatar": None,
        "bot": bot,
        "system": False,
        "public_flags": 0,
        "flags": 0,
    }


def role(
    guild_id: str,
    name: str,
    permissions: discord.Permissions | int = 0,
    *,
    position: int = 1,
    id: str | None = None,
) -> Payload:
    return {
        "id": id or snowflake(),
        "name": name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": position,
        "permissions": str(_perm_value(permissions)),
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def text_channel(
    guild_id: str,
    name: str = "general",
    *,
    position: int = 0,
    id: str | None = None,
    nsfw: bool = False,
) -> Payload:
    return {
        "id": id or snowflake(),
        "type": 0,
        "guild_id": guild_id,
        "name": name,
        "position": position,
        "permission_overwrites": [],
        "nsfw": nsfw,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def guild(
    name: str = "Test Guild",
    *,
    id: str | None = None,
    channels: Sequence[str] = ("general", "images"),
    owner_id: str | None = None,
    premium_tier: int = 0,
    everyone_permissions: discord.Permissions = EVERYONE_PERMISSIONS,
) -> Payload:
    """A GUILD_CREATE payload: text channels, @everyone, and an "Admin" role (Manage Server)."""
    gid = id or snowflake()
    roles = [
        role(gid, "@everyone", everyone_permissions, position=0, id=gid),
        role(
            gid, "Admin", everyone_permissions | discord.Permissions(manage_guild=True), position=2
        ),
    ]
    return {
        "id": gid,
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": owner_id or snowflake(),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "premium_tier": premium_tier,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "preferred_locale": "en-US",
        "features": [],
        "roles": roles,
        "emojis": [],
        "stickers": [],
        "joined_at": iso_now(),
        "large": False,
        "unavailable": False,
        "member_count": 1,
        "voice_states": [],
        "members": [],
        "channels": [text_channel(gid, n, position=i) for i, n in enumerate(channels)],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def upload_limit(guild_payload: Payload) -> int:
    return UPLOAD_LIMIT_BY_TIER[guild_payload.get("premium_tier", 0)]


def _role_for(guild_payload: Payload, permissions: int) -> Payload:
    """A role with exactly `permissions`, added to the guild if none matches."""
    for r in guild_payload["roles"]:
        if r["id"] != guild_payload["id"] and int(r["permissions"]) == permissions:
            return r
    new = role(
        guild_payload["id"],
        f"perms-{permissions}",
        permissions,
        position=len(guild_payload["roles"]),
    )
    guild_payload["roles"].append(new)
    return new


def total_permissions(guild_payload: Payload, member_payload: Payload) -> int:
    """Guild-level permissions as Discord computes them (owner and administrator get everything)."""
    if member_payload["user"]["id"] == guild_payload["owner_id"]:
        return discord.Permissions.all().value
    value = 0
    for r in guild_payload["roles"]:
        if r["id"] == guild_payload["id"] or r["id"] in member_payload["roles"]:
            value |= int(r["permissions"])
    if value & discord.Permissions(administrator=True).value:
        return discord.Permissions.all().value
    return value


def member(
    guild_payload: Payload,
    member_user: Payload | None = None,
    *,
    permissions: discord.Permissions | int | None = None,
    roles: Iterable[str] = (),
    nick: str | None = None,
) -> Payload:
    """A guild member; `permissions` adds (or reuses) a role, so the cache agrees with it.

    Mutates `guild_payload["roles"]` when a new role is needed: build members before the fake
    sends GUILD_CREATE, or use `FakeDiscord.member()`, which announces the role.
    """
    role_ids = list(roles)
    if permissions is not None:
        wanted = _perm_value(permissions) | _perm_value(EVERYONE_PERMISSIONS)
        role_ids.append(_role_for(guild_payload, wanted)["id"])
    data: Payload = {
        "user": member_user or user(),
        "nick": nick,
        "avatar": None,
        "banner": None,
        "roles": role_ids,
        "joined_at": iso_now(),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": 0,
        "communication_disabled_until": None,
    }
    data["permissions"] = str(total_permissions(guild_payload, data))
    return data


# --- attachments and messages -------------------------------------------------------------------


class FileHost(Protocol):
    """Anything that can serve bytes at a URL (the fake's CDN)."""

    def host_file(
        self,
        channel_id: str,
        attachment_id: str,
        filename: str,
        data: bytes,
        content_type: str | None,
    ) -> str: ...


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from the image header (Pillow reads only that), None if no image."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return None


def attachment(
    host: FileHost,
    data: bytes,
    filename: str = "image.png",
    *,
    channel_id: str = "0",
    content_type: str | None = None,
    id: str | None = None,
    description: str | None = None,
) -> Payload:
    """An attachment object whose `url` serves `data` from the fake's CDN."""
    att_id = id or snowflake()
    if content_type is None:
        content_type = mimetypes.guess_type(filename)[0]
    url = host.host_file(channel_id, att_id, filename, data, content_type)
    payload: Payload = {
        "id": att_id,
        "filename": filename,
        "size": len(data),
        "url": url,
        "proxy_url": url,
        "content_type": content_type,
        "description": description,
        "flags": 0,
    }
    size = image_size(data)
    if size is not None:
        payload["width"], payload["height"] = size
    return payload


def message(
    guild_payload: Payload,
    channel: Payload,
    author: Payload,
    content: str = "",
    *,
    attachments: Sequence[Payload] = (),
    reply_to: Payload | None = None,
    mentions: Sequence[Payload] = (),
    embeds: Sequence[Payload] = (),
    components: Sequence[Payload] = (),
    id: str | None = None,
) -> Payload:
    """A MESSAGE_CREATE payload; `author` is a member or a bare user, `mentions` are users."""
    if "user" in author:
        author_user, author_member = (
            author["user"],
            {k: v for k, v in author.items() if k not in ("user", "permissions")},
        )
    else:
        author_user, author_member = author, None
    data: Payload = {
        "id": id or snowflake(),
        "channel_id": channel["id"],
        "guild_id": guild_payload["id"],
        "author": author_user,
        "content": content,
        "timestamp": iso_now(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [dict(u) for u in mentions],
        "mention_roles": [],
        "attachments": list(attachments),
        "embeds": list(embeds),
        "components": list(components),
        "pinned": False,
        "type": 0,
        "flags": 0,
    }
    if author_member is not None:
        data["member"] = author_member
    if reply_to is not None:
        data["type"] = 19
        data["message_reference"] = {
            "type": 0,
            "message_id": reply_to["id"],
            "channel_id": reply_to["channel_id"],
            "guild_id": guild_payload["id"],
        }
        data["referenced_message"] = {
            k: v for k, v in reply_to.items() if k != "referenced_message"
        }
    return data


# --- interactions -------------------------------------------------------------------------------


def interaction(
    type: int,
    *,
    application_id: str,
    guild_payload: Payload,
    channel: Payload,
    member_payload: Payload,
    data: Payload | None = None,
    message_payload: Payload | None = None,
    app_permissions: discord.Permissions | int = BOT_PERMISSIONS,
    locale: str = "en-US",
    attachment_size_limit: int | None = None,
    id: str | None = None,
    token: str | None = None,
) -> Payload:
    """The common envelope of every INTERACTION_CREATE, with each key the client reads."""
    iid = id or snowflake()
    payload: Payload = {
        "id": iid,
        "application_id": application_id,
        "type": type,
        "token": token or f"itok-{iid}-{next(_sequence)}",
        "version": 1,
        "guild_id": guild_payload["id"],
        "guild": {
            "id": guild_payload["id"],
            "locale": guild_payload.get("preferred_locale", "en-US"),
            "features": [],
        },
        "guild_locale": guild_payload.get("preferred_locale", "en-US"),
        "channel_id": channel["id"],
        "channel": {
            k: channel[k]
            for k in ("id", "type", "name", "position", "guild_id", "nsfw", "parent_id", "flags")
            if k in channel
        },
        "member": member_payload,
        "app_permissions": str(_perm_value(app_permissions)),
        "locale": locale,
        "entitlements": [],
        "authorizing_integration_owners": {"0": guild_payload["id"]},
        "context": 0,
        "attachment_size_limit": attachment_size_limit or upload_limit(guild_payload),
    }
    if data is not None:
        payload["data"] = data
    if message_payload is not None:
        payload["message"] = message_payload
    return payload


def option(name: str, value: Any, type: int) -> Payload:
    return {"name": name, "type": type, "value": value}


def str_option(name: str, value: str) -> Payload:
    return option(name, value, STRING)


def subcommand(name: str, options: Sequence[Payload] = (), *, group: bool = False) -> Payload:
    return {
        "name": name,
        "type": SUB_COMMAND_GROUP if group else SUB_COMMAND,
        "options": list(options),
    }


def slash_command(
    name: str,
    options: Sequence[Payload] = (),
    *,
    attachments: Sequence[Payload] = (),
    command_id: str | None = None,
    **envelope: Any,
) -> Payload:
    """A chat-input command; `attachments` become `data.resolved.attachments`."""
    data: Payload = {
        "id": command_id or snowflake(),
        "name": name,
        "type": 1,
        "options": list(options),
    }
    if attachments:
        data["resolved"] = {"attachments": {a["id"]: a for a in attachments}}
    data["guild_id"] = envelope["guild_payload"]["id"]
    return interaction(APPLICATION_COMMAND, data=data, **envelope)


def message_context_menu(
    name: str, target: Payload, *, command_id: str | None = None, **envelope: Any
) -> Payload:
    """A message context-menu command on `target`, resolved as Discord sends it."""
    resolved_target = {k: v for k, v in target.items() if k not in ("member", "guild_id")}
    data = {
        "id": command_id or snowflake(),
        "name": name,
        "type": 3,
        "target_id": target["id"],
        "resolved": {"messages": {target["id"]: resolved_target}},
        "guild_id": envelope["guild_payload"]["id"],
    }
    return interaction(APPLICATION_COMMAND, data=data, **envelope)


def button_click(message_payload: Payload, custom_id: str, **envelope: Any) -> Payload:
    """A button press on `message_payload` (the message carrying the button)."""
    data = {"custom_id": custom_id, "component_type": 2}
    return interaction(MESSAGE_COMPONENT, data=data, message_payload=message_payload, **envelope)


def select_choice(
    message_payload: Payload, custom_id: str, values: Sequence[str], **envelope: Any
) -> Payload:
    """A string select's choice on `message_payload` (the message carrying the select)."""
    data = {"custom_id": custom_id, "component_type": 3, "values": list(values)}
    return interaction(MESSAGE_COMPONENT, data=data, message_payload=message_payload, **envelope)


def modal_submit(
    custom_id: str,
    values: Mapping[str, str] | None = None,
    *,
    components: Sequence[Payload] | None = None,
    message_payload: Payload | None = None,
    **envelope: Any,
) -> Payload:
    """A modal submit echoing the modal's `custom_id`; `values`: input custom_id -> value."""
    if components is None:
        components = [
            {"type": 1, "components": [{"type": 4, "custom_id": cid, "value": value}]}
            for cid, value in (values or {}).items()
        ]
    data = {"custom_id": custom_id, "components": list(components)}
    return interaction(MODAL_SUBMIT, data=data, message_payload=message_payload, **envelope)


def autocomplete(
    name: str, options: Sequence[Payload], *, command_id: str | None = None, **envelope: Any
) -> Payload:
    """An autocomplete request: exactly one option (possibly nested) carries `"focused": True`."""
    data = {"id": command_id or snowflake(), "name": name, "type": 1, "options": list(options)}
    data["guild_id"] = envelope["guild_payload"]["id"]
    return interaction(AUTOCOMPLETE, data=data, **envelope)


def focused(name: str, value: str, type: int = STRING) -> Payload:
    return {"name": name, "type": type, "value": value, "focused": True}
