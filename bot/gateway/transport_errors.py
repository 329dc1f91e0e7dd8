"""Transport failures (httpx's exceptions, whichever transport raised them) in words.

Each cause gets its own sentence naming the host (``host[:port]``, never the path,
query or user info): refused, name not resolving, TLS, connect timeout, answer
timeout, the body cut off mid-way, an encoding we cannot decode. The cause is read
from the exception chain: httpx's own transport wraps httpcore's error, which wraps
the ``OSError`` / ``ssl.SSLError``; bot.transport wraps aiohttp's, which carries it as
``os_error`` / ``certificate_error``.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from bot.errors import GatewayError, GatewayTimeout, GatewayUnavailable, MalformedResponse
from bot.gateway.addresses import host_of
from bot.i18n import _

_SSL_NOISE = re.compile(r"^\[[A-Z0-9_: ]+\]\s*|\s*\(_ssl\.c:\d+\)$")


def not_resolving(hostname: str) -> GatewayUnavailable:
    return GatewayUnavailable(
        _(
            "The image service's host name {hostname} does not resolve (DNS lookup failed).",
            hostname=hostname,
        )
    )


def encoding_error(url: str, encoding: str) -> MalformedResponse:
    return MalformedResponse(
        # Translators: {host} is the image service's host name; {encoding} an HTTP
        # Content-Encoding (gzip, br, zstd).
        _(
            "The image service at {host} sent its answer in the \u201c{encoding}\u201d "
            "encoding, which I cannot decode.",
            host=host_of(url),
            encoding=encoding,
        )
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack and len(seen) < 16:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        # aiohttp keeps the socket's error beside the chain, not in it.
        for attr in ("certificate_error", "os_error"):
            inner = getattr(current, attr, None)
            if isinstance(inner, BaseException):
                stack.append(inner)
        stack.append(current.__context__)
        stack.append(current.__cause__)


def _tls_reason(error: ssl.SSLError) -> str:
    message = getattr(error, "verify_message", None)
    if isinstance(error, ssl.SSLCertVerificationError) and message:
        return f"certificate verify failed: {message}"
    reason = getattr(error, "reason", None)
    if isinstance(reason, str) and reason:
        return reason.replace("_", " ").lower()
    return _SSL_NOISE.sub("", str(error)).strip() or "handshake failed"


def _os_reason(error: OSError) -> str:
    text = error.strerror or ""
    if not text and type(error) is OSError and error.args:
        text = str(error.args[0])  # bot.transport's own words ("resolves to no public address")
    return text[:1].lower() + text[1:100] if text else ""


def transport_error(
    exc: BaseException,
    url: str,
    *,
    timeout: float,
    connect_timeout: float,
    received: int | None,
    content_encoding: str | None = None,
) -> GatewayError:
    """The project's error for a failed exchange with ``url``.

    ``received``: body bytes read when it failed, None when no answer had begun.
    """
    host = host_of(url)
    if isinstance(exc, httpx.DecodingError):
        encoding = (content_encoding or "").strip().lower()
        return MalformedResponse(
            # Translators: {encoding} is an HTTP Content-Encoding (gzip, br, zstd).
            _(
                "The image service at {host} sent a {encoding} body that could not be decoded.",
                host=host,
                encoding=encoding,
            )
            if encoding
            else _("The image service at {host} sent a body that could not be decoded.", host=host)
        )
    if isinstance(exc, httpx.ConnectTimeout):
        return GatewayTimeout(
            _(
                "The image service at {host} did not accept a connection within {seconds} seconds.",
                host=host,
                seconds=f"{connect_timeout:g}",
            )
        )
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return GatewayTimeout(
            _(
                "The image service at {host} took longer than {seconds} seconds to answer.",
                host=host,
                seconds=f"{timeout:g}",
            )
        )
    causes = list(_chain(exc))
    # OpenSSL's own error (it has a reason) over aiohttp's wrapper, itself an SSLError.
    tls = sorted(
        (c for c in causes if isinstance(c, ssl.SSLError)),
        key=lambda c: getattr(c, "reason", None) is None,
    )
    if tls:
        return GatewayUnavailable(
            # Translators: {reason} is OpenSSL's reason, in English (certificate verify failed).
            _(
                "The secure (TLS) connection to the image service at {host} failed: {reason}.",
                host=host,
                reason=_tls_reason(tls[0]),
            )
        )
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return not_resolving(urlsplit(url).hostname or host)
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return GatewayUnavailable(
            _("The image service at {host} refused the connection.", host=host)
        )
    if received is not None:
        return GatewayUnavailable(
            _(
                "The image service at {host} cut its answer off after {size} bytes.",
                host=host,
                size=f"{received:,}",
            )
        )
    if any(
        isinstance(cause, (ConnectionResetError, BrokenPipeError))
        or "disconnect" in type(cause).__name__.lower()
        or "disconnected" in str(cause).lower()
        for cause in causes
    ):
        return GatewayUnavailable(
            _("The image service at {host} closed the connection without answering.", host=host)
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return GatewayUnavailable(
            _("The image service at {host} did not answer in HTTP.", host=host)
        )
    reasons = [_os_reason(c) for c in causes if isinstance(c, OSError)]
    reasons = [r for r in reasons if r]
    if reasons:
        # Translators: {reason} is the operating system's reason, in English (network is
        # unreachable).
        return GatewayUnavailable(
            _(
                "Could not reach the image service at {host} ({reason}).",
                host=host,
                reason=reasons[0],
            )
        )
    return GatewayUnavailable(_("Could not reach the image service at {host}.", host=host))
