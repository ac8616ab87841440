"""What one JWKS fetch attempt carries in and brings back (RFC 9110 section 13.1).

A :class:`Ticket` is handed to the sync or async fetch with the validators to
send; the fetch answers :class:`Fetched` (200 with a usable set),
:class:`NotModified` (304) or :class:`FetchFailed` (anything else). These are
the inputs of :class:`keywell.client.cache.JWKSCache`.
"""

from __future__ import annotations

from dataclasses import dataclass

from keywell.client.freshness import CachingHeaders
from keywell.jose.jwkset import JWKSet

__all__ = ["FetchFailed", "FetchResult", "Fetched", "NotModified", "Ticket"]


@dataclass(frozen=True, slots=True)
class Fetched:
    """A 200 answer holding a valid set with a usable key, or only keys it skipped."""

    keys: JWKSet
    headers: CachingHeaders


@dataclass(frozen=True, slots=True)
class NotModified:
    """A 304 answer to a conditional request."""

    headers: CachingHeaders


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """Any other outcome; ``reason`` says why, without secrets."""

    reason: str


FetchResult = Fetched | NotModified | FetchFailed


@dataclass(frozen=True, slots=True)
class Ticket:
    """One fetch attempt: its sequence number and the validators to send."""

    seq: int
    etag: str | None
    last_modified: str | None
