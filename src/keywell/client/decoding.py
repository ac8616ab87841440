"""Response bodies bounded by their *decoded* size, whatever the content coding.

keywell asks for ``Accept-Encoding: identity``, but a server may compress
anyway, and 200 KB of gzip decode to 175 MB. So the raw bytes are read as
they arrive and decoded here, incrementally, and the decoded size is counted
against the limit before more output is produced (``zlib``'s ``max_length``),
so memory stays within ``max_bytes`` plus one network chunk.

Rules (RFC 9110 section 8.4, content codings; section 8.4.1.2/8.4.1.3 for
``deflate`` and ``gzip``):

- no ``Content-Encoding`` (or only ``identity``): the body as is;
- exactly one of ``gzip``, ``x-gzip``, ``deflate`` (zlib-wrapped, or raw
  deflate as some servers send it): decoded;
- any other coding (``br``, ``zstd``, ``compress``, unknown tokens): refused;
- more than one coding (``gzip, gzip``): refused, layered encodings multiply
  the expansion;
- a compressed body that is corrupt, truncated, or followed by more data
  after its end: refused.

Every refusal is a :class:`BodyRefused` with a reason fit for logs.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

__all__ = ["BodyRefused", "BoundedDecoder", "content_coding"]

_GZIP_WBITS = 16 + zlib.MAX_WBITS
_CODINGS = {"gzip": "gzip", "x-gzip": "gzip", "deflate": "deflate"}


class BodyRefused(Exception):
    """A response body was refused; ``reason`` says why, without its content.

    ``too_large`` is True when the decoded size passed the limit.
    """

    def __init__(self, reason: str, *, too_large: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.too_large = too_large


def content_coding(values: Iterable[str]) -> str:
    """The one coding to undo: ``"identity"``, ``"gzip"`` or ``"deflate"``.

    ``values`` are the ``Content-Encoding`` field values (each may hold a
    comma-separated list). Raises :class:`BodyRefused` for any other coding or
    for more than one.
    """
    tokens = [t.strip().lower() for v in values for t in v.split(",")]
    codings = [t for t in tokens if t and t != "identity"]
    if not codings:
        return "identity"
    if len(codings) > 1:
        shown = ", ".join(c[:16] for c in codings[:4])
        raise BodyRefused(f"layered content codings {shown!r} are refused")
    coding = _CODINGS.get(codings[0])
    if coding is None:
        raise BodyRefused(
            f"content coding {codings[0][:32]!r} is refused (identity, gzip or deflate only)"
        )
    return coding


class BoundedDecoder:
    """Undo one content coding while counting the decoded bytes against ``max_bytes``.

    Feed raw chunks with :meth:`feed`, then call :meth:`finish` for the body.
    Raises :class:`BodyRefused` as soon as the decoded size passes
    ``max_bytes``, or when the compressed stream is corrupt or truncated.
    """

    __slots__ = ("_coding", "_data", "_inflater", "_started", "max_bytes")

    def __init__(self, coding: str, max_bytes: int) -> None:
        self._coding = coding
        self._data = bytearray()
        self.max_bytes = max_bytes
        self._started = False
        self._inflater = self._new_inflater(_GZIP_WBITS if coding == "gzip" else zlib.MAX_WBITS)

    @staticmethod
    def _new_inflater(wbits: int) -> zlib._Decompress:
        return zlib.decompressobj(wbits)

    def _append(self, data: bytes) -> None:
        self._data += data
        if len(self._data) > self.max_bytes:
            raise BodyRefused(f"body exceeds max_bytes={self.max_bytes} (decoded)", too_large=True)

    def feed(self, chunk: bytes) -> None:
        """Take the next raw chunk."""
        if not chunk:
            return
        if self._coding == "identity":
            self._append(chunk)
            return
        if self._inflater.eof:
            raise BodyRefused("data after the end of the compressed body")
        if not self._started and self._coding == "deflate":
            self._started = True
            try:
                self._inflate(chunk)
            except BodyRefused:
                if self._data:
                    raise
                # RFC 9110 says zlib-wrapped; some servers send raw deflate
                self._inflater = self._new_inflater(-zlib.MAX_WBITS)
                self._inflate(chunk)
            return
        self._started = True
        self._inflate(chunk)

    def _inflate(self, data: bytes) -> None:
        inflater = self._inflater
        while data:
            room = self.max_bytes - len(self._data) + 1
            try:
                out = inflater.decompress(data, room)
            except zlib.error:
                raise BodyRefused(f"corrupt {self._coding} body") from None
            self._append(out)
            if inflater.eof and inflater.unused_data:
                raise BodyRefused("data after the end of the compressed body")
            data = inflater.unconsumed_tail

    def finish(self) -> bytes:
        """The decoded body; refuses a compressed body that ended early."""
        if self._coding != "identity" and not self._inflater.eof:
            raise BodyRefused(f"truncated {self._coding} body")
        return bytes(self._data)
