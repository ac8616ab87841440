"""What the integrations share for DPoP-bound tokens (RFC 9449 section 7).

A verifier built with ``dpop=DPoPPolicy(...)`` makes every integration check
whole requests through :meth:`keywell.Verifier.verify_request`: the method,
the URI the client addressed, the ``Authorization`` header (``DPoP`` or, when
the policy allows, ``Bearer``) and the ``DPoP`` header. Refusals answer:

- no credentials, or another scheme: 401 ``WWW-Authenticate: DPoP
  algs="..."`` (and ``, Bearer`` when bearer tokens are allowed);
- a malformed ``Authorization`` header: 400 ``invalid_request``;
- a proof refused: 401 ``DPoP error="invalid_dpop_proof", algs="..."``;
- a nonce needed: 401 ``DPoP error="use_dpop_nonce"`` and a ``DPoP-Nonce``
  header with a fresh one (section 9);
- a token refused, not bound to the proof's key, or bound but sent as
  ``Bearer`` (section 7.2): 401 ``error="invalid_token"`` in a DPoP challenge;
- keys or the shared replay store unavailable, or a nonce source that hands
  out text no header can carry (not ``1*NQCHAR``): 503, no challenge.

Behind a proxy the URI the client addressed differs from the one the app
sees: configure the public URL (scheme, host and any path prefix the proxy
strips), and :func:`request_uri` builds the URI from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from keywell.errors import (
    DPoPBindingError,
    DPoPNonceError,
    DPoPProofError,
    KeywellError,
    MalformedTokenError,
    ReplayStoreError,
)
from keywell.integrations._common import AuthFailure, check_scopes, refused
from keywell.jose.dpop_nonce import is_nonce_text
from keywell.jose.dpop_policy import DPoPPolicy
from keywell.jose.dpop_request import split_authorization
from keywell.jose.dpop_uri import asgi_request_uri, quote_path, request_uri

__all__ = [
    "RequestVerifier",
    "aauthenticate_request",
    "asgi_request_uri",
    "authenticate_request",
    "has_dpop",
    "quote_path",
    "request_uri",
]


class RequestVerifier(Protocol):
    """A :class:`keywell.Verifier` built with a DPoP policy."""

    @property
    def dpop(self) -> DPoPPolicy | None:
        """The DPoP policy."""

    def verify_request(
        self, method: str, uri: str, authorization: str | None, dpop: str | None
    ) -> Mapping[str, Any]:
        """Return claims or raise."""

    async def averify_request(
        self, method: str, uri: str, authorization: str | None, dpop: str | None
    ) -> Mapping[str, Any]:
        """Return claims or raise, asynchronously."""


def has_dpop(verifier: object) -> bool:
    """Whether ``verifier`` checks whole requests (a keywell Verifier with a DPoP policy)."""
    return getattr(verifier, "dpop", None) is not None


def _precheck(policy: DPoPPolicy, authorization: str | None) -> None:
    """Refuse requests without DPoP or Bearer credentials before any verifying."""
    scheme = (authorization or "").strip().partition(" ")[0].lower()
    offered = "Bearer" if policy.allow_bearer else None
    if scheme != "dpop" and not (scheme == "bearer" and policy.allow_bearer):
        raise AuthFailure(
            401, None, "Authentication required", scheme="DPoP", algs=policy.algs, also=offered
        )
    try:
        split_authorization(authorization)
    except MalformedTokenError:
        raise AuthFailure(400, "invalid_request", "The Authorization header is malformed") from None


def _failure(exc: KeywellError, policy: DPoPPolicy, authorization: str | None) -> AuthFailure:
    algs = policy.algs
    if isinstance(exc, ReplayStoreError):
        return AuthFailure(503, "temporarily_unavailable", "The DPoP replay store is unavailable")
    if isinstance(exc, DPoPNonceError):
        if not is_nonce_text(exc.nonce):  # the nonce source failed: never put it in a header
            return AuthFailure(503, "temporarily_unavailable", "The DPoP nonce source failed")
        text = "A current DPoP nonce is required"
        return AuthFailure(401, exc.error, text, scheme="DPoP", algs=algs, nonce=exc.nonce)
    if isinstance(exc, DPoPProofError):
        return AuthFailure(401, exc.error, "The DPoP proof is invalid", scheme="DPoP", algs=algs)
    if isinstance(exc, DPoPBindingError):
        text = "The access token is not bound to the DPoP proof key"
        return AuthFailure(401, exc.error, text, scheme="DPoP", algs=algs)
    sent_dpop = (authorization or "").strip().lower().startswith("dpop ")
    return refused(exc, "DPoP" if sent_dpop else "Bearer", algs if sent_dpop else None)


def authenticate_request(
    verifier: RequestVerifier,
    method: str,
    uri: str,
    authorization: str | None,
    dpop: str | None,
    scopes: Iterable[str] = (),
) -> Mapping[str, Any]:
    """Verify a request's token and proof and check scopes; raise :class:`AuthFailure`."""
    policy = verifier.dpop
    if policy is None:
        raise TypeError("the verifier has no DPoP policy")
    _precheck(policy, authorization)
    try:
        claims = verifier.verify_request(method, uri, authorization, dpop)
    except KeywellError as exc:
        raise _failure(exc, policy, authorization) from exc
    check_scopes(claims, scopes)
    return claims


async def aauthenticate_request(
    verifier: RequestVerifier,
    method: str,
    uri: str,
    authorization: str | None,
    dpop: str | None,
    scopes: Iterable[str] = (),
) -> Mapping[str, Any]:
    """Like :func:`authenticate_request`, without blocking the event loop."""
    policy = verifier.dpop
    if policy is None:
        raise TypeError("the verifier has no DPoP policy")
    _precheck(policy, authorization)
    try:
        claims = await verifier.averify_request(method, uri, authorization, dpop)
    except KeywellError as exc:
        raise _failure(exc, policy, authorization) from exc
    check_scopes(claims, scopes)
    return claims
