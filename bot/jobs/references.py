"""The reference library for jobs: the images a prompt names, and ``/ref add``'s store.

The syntax and its decisions: ``bot.jobs.reference_names``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from bot.errors import ImagineError, LimitReached
from bot.jobs.inputs import download
from bot.jobs.reference_names import named
from bot.jobs.spec import JobSpec, Reference, SourceImage
from bot.limits import MAX_MEMBER_REFERENCES, MAX_SERVER_REFERENCES
from bot.storage.base import ReferenceImage, Store
from bot.storage.errors import ReferenceExists, TooManyReferences

LIMITS = {"member": MAX_MEMBER_REFERENCES, "server": MAX_SERVER_REFERENCES}
WHOSE = {"member": "You have", "server": "This server has"}


def _listed(refs: Sequence[ReferenceImage]) -> str:
    return ", ".join(f"[{r.name}]" for r in refs)


async def unknown_names(store: Store, guild_id: int, user_id: int, missing: Sequence[str]) -> str:
    """The sentence for names that are no reference: which, and the ones there are."""
    wrong = " or ".join(f"[{n}]" for n in missing)
    mine = await store.list_references(scope="member", owner_id=user_id)
    server = await store.list_references(scope="server", owner_id=guild_id)
    fix = "add it with /ref add, or write the word without brackets."
    if not mine and not server:
        return (
            f"There is no reference image named {wrong}: you and this server have none yet; {fix}"
        )
    known = [f"yours: {_listed(mine)}"] if mine else []
    known += [f"this server's: {_listed(server)}"] if server else []
    return (
        f"There is no reference image named {wrong} ({'; '.join(known)}): check the name, or {fix}"
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
        raise ImagineError(
            f"{WHOSE[scope]} a reference named [{name.lower()}] already: remove it first with "
            f"/ref remove name:{name.lower()}{' scope:server' if scope == 'server' else ''}, "
            "or pick another name."
        ) from exc
    except TooManyReferences as exc:
        raise LimitReached(_full(scope, limit)) from exc


def _full(scope: str, limit: int) -> str:
    what = "a member" if scope == "member" else "a server"
    return (
        f"{WHOSE[scope]} {limit} reference images, the most {what} may keep: "
        "use /ref remove to make room first."
    )
