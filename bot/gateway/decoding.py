"""Content-Encoding decoded a bounded piece at a time, so no body outgrows its cap unseen.

httpx decodes each network chunk whole: a 32 KB zstd body became 1 GiB in one call
(2.1 GB of memory, 2.6 s of event loop) before the size cap saw a byte of it. Here no
decoder call produces more than a bounded amount, and the caller counts every piece
against its cap as it comes:

* gzip and deflate: zlib's ``max_length``, at most ``PIECE_BYTES`` per call;
* br: brotli's ``output_buffer_limit`` (brotli >= 1.2), the size past which its buffer
  stops growing, so half the bound (a call was measured to yield up to 1.97x it); an
  older brotli has no limit, so ``br`` is then not decodable (the client names it);
* zstd: zstandard has no output limit, so its input goes in ``ZSTD_SLICE_BYTES`` at a
  time; a zstd block is at most 128 KiB decoded from 4 bytes, so one call yields at
  most 32 KiB per byte fed (16 MiB). Measured on a 28 MB answer, that costs ~70 ms of
  decoding where whole chunks took ~35; zstd is never asked for, so only a gateway
  that sends it anyway pays.

Bytes after the end of a gzip, deflate or br stream are ignored (as httpx does); a
zstd body may hold several frames. Damage raises ``httpx.DecodingError``, which
``bot.gateway.transport_errors`` words like httpx's own.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli
import httpx
import zstandard

PIECE_BYTES = 1024 * 1024
_BROTLI_LIMIT = PIECE_BYTES // 2
ZSTD_SLICE_BYTES = 512
# Labels some servers put in Content-Encoding that mean "not encoded": read as is.
NOT_ENCODINGS = frozenset(
    {"", "identity", "none", "utf-8", "utf8", "binary", "8bit", "7bit", "text"}
)
_BOUNDED_BROTLI = hasattr(brotli.Decompressor(), "can_accept_more_data")


class _Stage(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Zlib:
    """gzip, or deflate: zlib-wrapped as HTTP means it, or raw as some servers send it."""

    def __init__(self, wbits: int, raw_fallback: bool) -> None:
        self._inflate = zlib.decompressobj(wbits)
        self._fallback = raw_fallback
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            while data and not self._inflate.eof:
                try:
                    out = self._inflate.decompress(data, PIECE_BYTES)
                except zlib.error:
                    if self._started or not self._fallback:
                        raise
                    self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
                    out = self._inflate.decompress(data, PIECE_BYTES)
                self._started = True
                data = self._inflate.unconsumed_tail
                if out:
                    yield out
        except zlib.error as exc:
            raise httpx.DecodingError(str(exc)) from exc

    def flush(self) -> Iterator[bytes]:
        try:
            out = self._inflate.flush()
        except zlib.error as exc:  # pragma: no cover - zlib reports damage while decoding
            raise httpx.DecodingError(str(exc)) from exc
        if out:
            yield out


class _Brotli:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data or self._decoder.is_finished():
            return
        try:
            out = self._decoder.process(data, output_buffer_limit=_BROTLI_LIMIT)
            # Past the limit, brotli keeps the rest for calls with no input.
            while out:
                yield out
                finished = self._decoder.is_finished()
                out = (
                    b""
                    if finished
                    else self._decoder.process(b"", output_buffer_limit=_BROTLI_LIMIT)
                )
        except brotli.error as exc:
            raise httpx.DecodingError(str(exc)) from exc

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Zstd:
    def __init__(self) -> None:
        self._decoder = zstandard.ZstdDecompressor().decompressobj()
        self._seen = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        view = memoryview(data)
        try:
            for start in range(0, len(view), ZSTD_SLICE_BYTES):
                self._seen = True
                piece: bytes | memoryview = view[start : start + ZSTD_SLICE_BYTES]
                while piece:
                    out = self._decoder.decompress(piece)
                    piece = b""
                    if self._decoder.eof and self._decoder.unused_data:
                        # The next frame begins within this slice.
                        piece = self._decoder.unused_data
                        self._decoder = zstandard.ZstdDecompressor().decompressobj()
                    if out:
                        yield out
        except zstandard.ZstdError as exc:
            raise httpx.DecodingError(str(exc)) from exc

    def flush(self) -> Iterator[bytes]:
        if self._seen and not self._decoder.eof:
            raise httpx.DecodingError("zstd data is incomplete")
        return iter(())


def _stage(encoding: str) -> _Stage:
    if encoding == "gzip":
        return _Zlib(zlib.MAX_WBITS | 16, raw_fallback=False)
    if encoding == "deflate":
        return _Zlib(zlib.MAX_WBITS, raw_fallback=True)
    if encoding == "br" and _BOUNDED_BROTLI:
        return _Brotli()
    if encoding == "zstd":
        return _Zstd()
    raise ValueError(f"cannot decode {encoding!r}")


DECODABLE = frozenset(
    {"identity", "gzip", "deflate", "zstd"} | ({"br"} if _BOUNDED_BROTLI else set())
)


def _tokens(content_encoding: str | None) -> list[str]:
    return [token.strip().lower() for token in (content_encoding or "").split(",")]


def undecodable_encoding(content_encoding: str | None) -> str | None:
    """The first encoding in a Content-Encoding header that ``BodyDecoder`` cannot undo."""
    for token in _tokens(content_encoding):
        if token not in DECODABLE and token not in NOT_ENCODINGS:
            return token[:40]
    return None


class BodyDecoder:
    """Undoes a Content-Encoding header's encodings, last applied first, in bounded pieces.

    Check the header with ``undecodable_encoding`` first: an encoding it names raises
    ``ValueError`` here.
    """

    def __init__(self, content_encoding: str | None) -> None:
        applied = [t for t in _tokens(content_encoding) if t not in NOT_ENCODINGS]
        self._stages = [_stage(encoding) for encoding in reversed(applied)]

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The decoded pieces of ``data``, each at most one decoder call's output."""
        return self._through(0, data)

    def flush(self) -> Iterator[bytes]:
        """What the decoders still hold at the end of the body."""
        for index, stage in enumerate(self._stages):
            for piece in stage.flush():
                yield from self._through(index + 1, piece)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self._stages):
            if data:
                yield data
            return
        for piece in self._stages[index].feed(data):
            yield from self._through(index + 1, piece)
