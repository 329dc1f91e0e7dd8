"""What a PostgreSQL DATABASE_URL names, in words safe to show: never its password."""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

SCHEMES = ("postgresql", "postgres")


def dsn(database_url: str) -> str:
    """The URL as asyncpg takes it: ``postgresql+asyncpg://`` (SQLAlchemy's) loses ``+asyncpg``."""
    scheme, sep, rest = database_url.partition("://")
    return (
        f"postgresql://{rest}" if sep and scheme.split("+")[0].lower() in SCHEMES else database_url
    )


def passwords(database_url: str) -> list[str]:
    """Every password the URL carries (user info and ``?password=``), for redaction."""
    try:
        parts = urlsplit(database_url)
        found = [parts.password or ""] + parse_qs(parts.query).get("password", [])
    except ValueError:
        return []
    return [p for p in (*found, *(unquote(p) for p in found)) if p]


def describe(database_url: str) -> str:
    """``database "bot" on db.example:5432 as user "bot"``: enough to find it, no secret."""
    try:
        parts = urlsplit(database_url)
        query = parse_qs(parts.query)
        host = parts.hostname or (query.get("host") or [""])[0]
        port = parts.port
    except ValueError:
        return "named by DATABASE_URL (it is not a valid URL)"
    user = parts.username or (query.get("user") or [""])[0]
    database = unquote(parts.path.lstrip("/")) or (query.get("dbname") or [""])[0] or user
    where = host or "localhost"
    if host.startswith("/"):
        where = f"the socket in {host}"
    elif port:
        where = f"{host}:{port}"
    words = f'database "{database or "(default)"}" on {where}'
    return f'{words} as user "{unquote(user)}"' if user else words


def without_password(database_url: str) -> str:
    """The URL with its password (in the user info or the query) replaced by ``***``."""
    try:
        parts = urlsplit(database_url)
    except ValueError:
        return "(DATABASE_URL)"
    netloc = parts.netloc
    if parts.password is not None:
        user = quote(unquote(parts.username or ""), safe="")
        netloc = f"{user}:***@{netloc.rpartition('@')[2]}"
    query = "&".join(
        "password=***" if item.split("=", 1)[0] == "password" else item
        for item in parts.query.split("&")
        if item
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
