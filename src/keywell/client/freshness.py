"""How long a fetched JWK Set stays fresh: the cache policy and HTTP caching headers.

:func:`compute_ttl` reads ``Cache-Control: max-age`` (less ``Age``), else
``Expires`` against ``Date`` (RFC 9111 sections 4.2.1, 5.1, 5.2.2.1, 5.3),
bounded by the policy's ``min_ttl``/``max_ttl``; ``default_ttl`` applies when
the server is silent, and ``no-store``/``no-cache`` earn only ``min_ttl``.
A 304 updates the stored header fields with those it carries
(:meth:`CachingHeaders.updated_by`, RFC 9111 section 4.3.4) before the
lifetime is computed, so a bare 304 keeps the stored ``max-age``.

:func:`parse_directives` and :func:`delta_seconds` are the one parser of
``Cache-Control`` for the client and the linter alike.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = [
    "CachePolicy",
    "CachingHeaders",
    "compute_ttl",
    "delta_seconds",
    "header_integer",
    "parse_directives",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class CachePolicy:
    """How long a remote set is trusted and how often it may be refetched (seconds).

    ``cooldown`` is the least time between the end of one fetch attempt and
    the start of the next (unknown kids, retries after a failure).
    """

    cooldown: float = 30.0
    min_ttl: float = 60.0
    max_ttl: float = 86400.0
    default_ttl: float = 600.0
    max_stale: float = 6 * 3600.0
    refresh_ahead: float | None = None

    def __post_init__(self) -> None:
        for name in ("cooldown", "min_ttl", "max_ttl", "default_ttl", "max_stale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"{name} must be a number of seconds")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0")
        if not self.min_ttl <= self.default_ttl <= self.max_ttl:
            raise ValueError(
                "need min_ttl <= default_ttl <= max_ttl, got "
                f"min_ttl={self.min_ttl:g}, default_ttl={self.default_ttl:g}, "
                f"max_ttl={self.max_ttl:g} (set the others too when changing one)"
            )
        if self.max_ttl <= 0:
            raise ValueError("max_ttl must be positive")
        ahead = self.refresh_ahead
        if ahead is not None and (not isinstance(ahead, int | float) or not ahead > 0):
            raise ValueError("refresh_ahead must be None or a positive number of seconds")


@dataclass(frozen=True, slots=True)
class CachingHeaders:
    """The response headers that drive caching, as received (or None)."""

    cache_control: str | None = None
    expires: str | None = None
    date: str | None = None
    age: str | None = None
    etag: str | None = None
    last_modified: str | None = None

    @classmethod
    def from_mapping(cls, headers: Mapping[str, str]) -> CachingHeaders:
        """Pick the caching headers out of a case-insensitive header mapping."""
        return cls(
            headers.get("cache-control"),
            headers.get("expires"),
            headers.get("date"),
            headers.get("age"),
            headers.get("etag"),
            headers.get("last-modified"),
        )

    def updated_by(self, fresh: CachingHeaders) -> CachingHeaders:
        """These stored fields updated with those of a 304 (RFC 9111 section 4.3.4).

        Each field the 304 carries replaces the stored one; the others stay,
        except ``Age``, which belongs to the response just received: a 304
        without ``Age`` is taken as age 0.
        """
        return CachingHeaders(
            _pick(fresh.cache_control, self.cache_control),
            _pick(fresh.expires, self.expires),
            _pick(fresh.date, self.date),
            fresh.age,
            _pick(fresh.etag, self.etag),
            _pick(fresh.last_modified, self.last_modified),
        )


def _pick(fresh: str | None, stored: str | None) -> str | None:
    return stored if fresh is None else fresh


def parse_directives(value: str | None) -> dict[str, str | None]:
    """Directives of a Cache-Control value, names lower-cased (RFC 9111 section 5.2).

    The first occurrence of a directive wins; a quoted argument is unquoted.
    """
    out: dict[str, str | None] = {}
    for part in (value or "").split(","):
        name, sep, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name:
            out.setdefault(name, arg.strip().strip('"') if sep else None)
    return out


def _http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


_ASCII_DIGITS = re.compile(r"[0-9]+")


def header_integer(value: str | None, *, digits: int) -> int | None:
    """A header number that is 1 to ``digits`` ASCII digits, else None.

    The one rule for numbers in header fields (delta-seconds, RFC 9111
    section 1.2.2; Content-Length, RFC 9110 section 8.6): ``str.isdigit``
    would accept ``"²"`` and 5,000-digit numbers, which ``int`` then refuses;
    one odd header from a proxy must never raise.
    """
    if value is None or not 0 < len(value) <= digits or not _ASCII_DIGITS.fullmatch(value):
        return None
    return int(value)


def delta_seconds(value: str | None) -> int | None:
    """Parse delta-seconds (RFC 9111 section 1.2.2): ASCII digits only, at most ten."""
    return header_integer(value, digits=10)


def compute_ttl(headers: CachingHeaders, policy: CachePolicy, now: float) -> float:
    """The freshness lifetime a response earns, bounded by the policy (RFC 9111 section 4.2.1)."""
    cc = parse_directives(headers.cache_control)
    if "no-store" in cc or "no-cache" in cc:
        return policy.min_ttl
    ttl: float | None = None
    max_age = delta_seconds(cc.get("max-age"))
    if max_age is not None:
        age = delta_seconds(headers.age.strip() if headers.age else None)
        ttl = max_age - (age or 0)
    elif headers.expires is not None:
        expires = _http_date(headers.expires)
        date = _http_date(headers.date)
        # RFC 9111 section 5.3: an invalid Expires means "already expired".
        ttl = 0.0 if expires is None else expires - (date if date is not None else now)
    if ttl is None:
        return policy.default_ttl
    return float(min(max(ttl, policy.min_ttl), policy.max_ttl))
