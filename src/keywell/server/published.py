"""Precomputed public documents per key-set version: bytes and headers ready to send.

For every published key set the server holds its JWK Set (RFC 7517 section 5)
and its issuer metadata (OpenID Connect Discovery 1.0 section 3; RFC 8414
section 2) as bytes, with a strong ``ETag`` (RFC 9110 section 8.8.3) derived
from the bytes, so every replica serving the same set version sends the same
validator. :class:`Registry` swaps in a new snapshot when the store's version
counters move; a request only reads a dict.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from keywell.lifecycle.rules import is_publishable, jwks_path, strong_etag

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["JWK_SET_JSON", "Document", "Entry", "Registry", "build_entry"]

JWK_SET_JSON = b"application/jwk-set+json"
_JSON = b"application/json"
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class Document:
    """One representation: its body, validator and the header lists for 200 and 304.

    RFC 9110 section 15.4.5: a 304 carries the ``ETag``, ``Cache-Control`` and
    ``Vary`` the 200 would have carried.
    """

    body: bytes
    etag: bytes
    ok_headers: Headers
    not_modified_headers: Headers

    @classmethod
    def build(
        cls, body: bytes, etag: str, cache_control: str, content_type: bytes, *, vary: bool
    ) -> Document:
        """Precompute the headers for ``body``."""
        common: Headers = [
            (b"etag", etag.encode()),
            (b"cache-control", cache_control.encode()),
            (b"access-control-allow-origin", b"*"),
            (b"access-control-expose-headers", b"ETag"),
        ]
        if vary:
            common.append((b"vary", b"Accept"))
        ok = [
            (b"content-type", content_type),
            (b"content-length", str(len(body)).encode()),
            (b"x-content-type-options", b"nosniff"),
            *common,
        ]
        return cls(body=body, etag=etag.encode(), ok_headers=ok, not_modified_headers=common)


@dataclass(frozen=True, slots=True)
class Entry:
    """Everything served publicly for one key set at one version."""

    name: str
    version: int
    alg: str
    jwks: Document
    jwks_typed: Document
    discovery: Document
    #: Whether the set's issuer is ``{base_url}/keysets/{name}``, the one place
    #: its per-set discovery document may be served (OpenID Connect Discovery
    #: 1.0 section 4.3, RFC 8414 section 3.3: the issuer must be the URL the
    #: document is fetched under, less the well-known part).
    issuer_here: bool


def _alternate_etag(etag: str, suffix: str) -> str:
    """The validator of another representation of the same bytes (RFC 9110 section 8.8.3)."""
    return f'{etag[:-1]}.{suffix}"'


def build_entry(info: Any, published: Any, *, base_url: str, is_default: bool) -> Entry:
    """Build the public documents of one key set from its ``KeySetInfo`` and ``PublishedJWKS``."""
    name = info.name
    jwks_uri = base_url + jwks_path(name, default=is_default)
    metadata = {
        "issuer": info.issuer,
        "jwks_uri": jwks_uri,
        "id_token_signing_alg_values_supported": [info.alg],
    }
    meta_body = json.dumps(metadata, sort_keys=True, separators=(",", ":")).encode()
    cc = published.cache_control
    etag = published.etag
    return Entry(
        name=name,
        version=published.version,
        alg=info.alg,
        jwks=Document.build(published.body, etag, cc, _JSON, vary=True),
        jwks_typed=Document.build(
            published.body, _alternate_etag(etag, "jwk-set"), cc, JWK_SET_JSON, vary=True
        ),
        discovery=Document.build(meta_body, strong_etag(meta_body), cc, _JSON, vary=False),
        issuer_here=info.issuer.rstrip("/") == f"{base_url}/keysets/{name}",
    )


class Registry:
    """The current snapshot of published documents and key-set facts, swapped atomically.

    Args:
        base_url: the public base URL used in discovery documents.
        default_keyset: the set served at ``/.well-known/jwks.json``.

    Every refresh (the scheduler's poll, an admin handler after a change, a
    request that found the snapshot too old) goes through :meth:`refresh`,
    which holds one lock for its whole read-and-swap and never replaces an
    entry with one of a lower set version; so a slow refresh that read the
    store before a revocation cannot install its older document after a
    later refresh installed the newer one. ``checked_at`` is the monotonic
    time at which the last successful version check *started*: the snapshot
    reflects every change committed before it.
    """

    def __init__(self, *, base_url: str, default_keyset: str) -> None:
        self.base_url = base_url
        self.default_keyset = default_keyset
        self.entries: Mapping[str, Entry] = {}
        self.infos: Mapping[str, Any] = {}
        self.keys: Mapping[str, list[Any]] = {}
        self.versions: dict[str, int] = {}
        self.checked_at = -math.inf
        self._lock = threading.Lock()

    def age(self) -> float:
        """Seconds since the last successful version check started."""
        return time.monotonic() - self.checked_at

    def refresh(self, issuer: Issuer, *, force: bool = False) -> list[str]:
        """Re-read the sets whose version moved (blocking: run it in a worker thread).

        Sets changed by anyone (another replica included) also lose their
        cached signer in ``issuer``, so a key revoked elsewhere stops signing
        here within one poll.

        Returns:
            The names of the sets that changed, appeared or disappeared.
        """
        with self._lock:
            started = time.monotonic()
            current = issuer.versions()
            changed = [n for n, v in current.items() if force or self.versions.get(n) != v]
            gone = [n for n in self.versions if n not in current]
            for name in changed + gone:
                issuer.invalidate_signer(name)
            if changed or gone:
                self._rebuild(issuer, current, changed)
            self.checked_at = max(self.checked_at, started)
            return changed + gone

    def _rebuild(self, issuer: Issuer, current: dict[str, int], changed: list[str]) -> None:
        entries = {n: e for n, e in self.entries.items() if n in current}
        infos = {n: i for n, i in self.infos.items() if n in current}
        keys = {n: k for n, k in self.keys.items() if n in current}
        versions = {n: v for n, v in self.versions.items() if n in current}
        for name in changed:
            info = issuer.get_keyset(name)
            if info.version < versions.get(name, -1):
                continue  # never go back to an older version of the set
            infos[name] = info
            keys[name] = list(issuer.keys(name))
            versions[name] = info.version
            if is_publishable(info.alg):
                entries[name] = build_entry(
                    info,
                    issuer.jwks(name),
                    base_url=self.base_url,
                    is_default=name == self.default_keyset,
                )
            else:
                entries.pop(name, None)
        self.entries, self.infos, self.keys = entries, infos, keys
        self.versions = versions
