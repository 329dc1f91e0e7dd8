"""The reference library for jobs: the images a prompt names, and ``/ref add``'s store.

The syntax and its decisions: ``bot.jobs.reference_names``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.errors import ImagineError, LimitReached
from bot.i18n import Message, _
from bot.jobs.inputs import download
from bot.jobs.reference_names import named
from bot.jobs.spec import JobSpec, Reference, SourceImage
from bot.limits import MAX_MEMBER_REFERENCES, MAX_SERVER_REFERENCES
from bot.storage.base import ReferenceImage, Store
from bot.storage.errors import ReferenceExists, TooManyReferences

LIMITS = {"member": MAX_MEMBER_REFERENCES, "server": MAX_SERVER_REFERENCES}


def _listed(refs: Sequence[ReferenceImage]) -> str:
    return ", ".join(f"[{r.name}]" for r in refs)


def _either(names: Sequence[str]) -> Message:
    """``[a]``, ``[a] or [b]``, ``[a] or [b] or [c]``: the names one of which was meant."""
    either: Message = f"[{names[0]}]"
    for name in names[1:]:
        # Translators: {names} is one or more reference names in brackets ([cat] or
        # [dog]), {name} one more ([owl]); "or" joins them in the sentence "There is no
        # reference image named [cat] or [owl]".
        either = _("{names} or {name}", names=either, name=f"[{name}]")
    return either


async def unknown_names(
    store: Store, guild_id: int, user_id: int, missing: Sequence[str]
) -> Message:
    """The sentence for names that are no reference: which, and the ones there are."""
    wrong = _either(missing)
    mine = await store.list_references(scope="member", owner_id=user_id)
    server = await store.list_references(scope="server", owner_id=guild_id)
    if not mine and not server:
        # Translators: {names} is the reference names the prompt used ([cat] or [owl]).
        return _(
            "There is no reference image named {names}: you and this server have none yet; "
            "add it with /ref add, or write the word without brackets.",
            names=wrong,
        )
    if not server:
        # Translators: {yours} is the member's own reference names ([cat], [owl]).
        return _(
            "There is no reference image named {names} (yours: {yours}): check the name, or "
            "add it with /ref add, or write the word without brackets.",
            names=wrong,
            yours=_listed(mine),
        )
    if not mine:
        # Translators: {server} is the server's reference names ([logo], [mascot]).
        return _(
            "There is no reference image named {names} (this server's: {server}): check the "
            "name, or add it with /ref add, or write the word without brackets.",
            names=wrong,
            server=_listed(server),
        )
    return _(
        "There is no reference image named {names} (yours: {yours}; this server's: "
        "{server}): check the name, or add it with /ref add, or write the word without "
        "brackets.",
        names=wrong,
        yours=_listed(mine),
        server=_listed(server),
    )


async def with_references(store: Store, spec: JobSpec) -> JobSpec:
    """The spec with the library images its prompt names; ImagineError for an unknown one."""
    names = named(spec.prompt)
    if not names or spec.guild_id is None:
        return spec
    found = await store.resolve_references(
        guild_id=spec.guild_id, user_id=spec.user_id, names=names
    )
    missing = [n for n in names if n not in found]
    if missing:
        raise ImagineError(await unknown_names(store, spec.guild_id, spec.user_id, missing))
    refs = tuple(Reference(n, found[n].image.sha256) for n in names)
    return replace(spec, references=refs)


async def store_reference(
    services: Any, source: SourceImage, *, scope: str, owner_id: int, name: str, added_by: int
) -> ReferenceImage:
    """Download, check and normalise the image as any input is, store it under ``name``."""
    store: Store = services.store
    limit = LIMITS[scope]
    # Refused before the download when already full; the add checks again, atomically.
    if len(await store.list_references(scope=scope, owner_id=owner_id)) >= limit:
        raise LimitReached(_full(scope, limit))
    raw = await download(services.http, source)
    [image] = await services.gateway.prepare_images([raw])
    stored = await store.put_blob(image.data, image.mime, image.width, image.height)
    try:
        return await store.add_reference(
            scope=scope,
            owner_id=owner_id,
            name=name,
            sha256=stored.sha256,
            added_by=added_by,
            limit=limit,
        )
    except ReferenceExists as exc:
        raise ImagineError(_exists(scope, name.lower())) from exc
    except TooManyReferences as exc:
        raise LimitReached(_full(scope, limit)) from exc


def _exists(scope: str, name: str) -> Message:
    # Translators: {name} is a reference name; "/ref remove name: scope:server" is the
    # command to type (keep it as is).
    if scope == "server":
        return _(
            "This server has a reference named [{name}] already: remove it first with "
            "/ref remove name:{name} scope:server, or pick another name.",
            name=name,
        )
    return _(
        "You have a reference named [{name}] already: remove it first with "
        "/ref remove name:{name}, or pick another name.",
        name=name,
    )


def _full(scope: str, limit: int) -> Message:
    if scope == "server":
        return _(
            "This server has {limit} reference images, the most a server may keep: "
            "use /ref remove to make room first.",
            limit=limit,
        )
    return _(
        "You have {limit} reference images, the most a member may keep: "
        "use /ref remove to make room first.",
        limit=limit,
    )
