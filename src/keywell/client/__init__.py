"""Remote JWK Sets: fetch, cache, revalidate and verify (needs the ``client`` extra, httpx).

``RemoteJWKSet(url)`` is a key source for :class:`keywell.Verifier`, sync and
async; ``RemoteJWKSet.from_issuer(issuer)`` finds the set by discovery;
:class:`MultiIssuerVerifier` keeps several issuers apart.
"""

try:
    import httpx as _httpx  # noqa: F401 - only to give a clear error when the extra is missing
except ModuleNotFoundError as _exc:  # pragma: no cover - exercised without the extra
    raise ImportError(
        "keywell.client needs the client extra: pip install 'keywell[client]'"
    ) from _exc

from keywell.client.cache import CachePolicy, CachingHeaders, Health, JWKSCache, compute_ttl
from keywell.client.discovery import adiscover, discover
from keywell.client.multi import MultiIssuerVerifier
from keywell.client.remote import RemoteJWKSet
from keywell.client.report import FetchReport, fetch_report

__all__ = [
    "CachePolicy",
    "CachingHeaders",
    "FetchReport",
    "Health",
    "JWKSCache",
    "MultiIssuerVerifier",
    "RemoteJWKSet",
    "adiscover",
    "compute_ttl",
    "discover",
    "fetch_report",
]
