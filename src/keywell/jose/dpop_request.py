"""A resource-server request: the Authorization scheme, the proof, the binding (RFC 9449 7).

:meth:`keywell.Verifier.verify_request` runs these steps, the access token
itself going through the verifier's normal path (and its cache):

- ``Authorization: DPoP <token>`` with exactly one ``DPoP`` header: the proof
  is checked (:func:`~keywell.jose.dpop.check_proof`, ``ath`` included), the
  token verified, its ``cnf.jkt`` must equal the RFC 7638 thumbprint of the
  proof's key (section 6.1; an unbound token is refused, section 7.1), and
  only then is the proof recorded in the replay store: a proof seen before
  within its window is refused (section 11.1). Refusing first and recording
  last keeps failed requests from filling the store.
- ``Authorization: Bearer <token>``: verified as a bearer token, unless the
  policy refuses bearer tokens; a token bound to a key by any confirmation
  method (a ``cnf`` claim: ``jkt``, RFC 7800's ``jwk``/``jwe``/``kid``/``jku``,
  RFC 8705's ``x5t#S256``, any other) is refused (section 7.2: a bound token
  without its proof is a stolen token until shown otherwise).

The scheme is case-insensitive (RFC 9110 section 11.1); a missing or
malformed header is a :class:`~keywell.errors.MalformedTokenError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from keywell.errors import DPoPBindingError, DPoPProofError, DPoPReplayError, MalformedTokenError
from keywell.jose.dpop import DPoPProof, check_proof
from keywell.jose.dpop_policy import DPoPPolicy
from keywell.jose.dpop_replay import replay_key

__all__ = [
    "Credentials",
    "arecord",
    "bound_jkt",
    "check_binding",
    "prepare",
    "record",
    "split_authorization",
]

Credentials = tuple[str, str, DPoPProof | None]
"""The scheme (``"dpop"`` or ``"bearer"``), the access token, and the checked proof."""


def split_authorization(value: str | None) -> tuple[str, str]:
    """The lower-cased scheme and the token of an ``Authorization`` header value.

    Raises:
        MalformedTokenError: no header, a scheme other than DPoP or Bearer, or
            not exactly one ASCII token after it (RFC 6750 section 2.1 b64token).
    """
    if not value or type(value) is not str:
        raise MalformedTokenError("the request has no Authorization header")
    scheme, _, token = value.strip().partition(" ")
    scheme, token = scheme.lower(), token.strip()
    if scheme not in ("dpop", "bearer"):
        raise MalformedTokenError("the Authorization scheme is neither DPoP nor Bearer")
    if not token or " " in token or not token.isascii():
        raise MalformedTokenError("the Authorization header is malformed")
    return scheme, token


def bound_jkt(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of verified claims, or None when the token is not bound that way.

    Raises:
        DPoPBindingError: ``cnf.jkt`` is present but not a string.
    """
    cnf = claims.get("cnf")  # an object when present: the verifier checked its type
    if not isinstance(cnf, Mapping) or "jkt" not in cnf:
        return None
    jkt = cnf["jkt"]
    if type(jkt) is not str:
        raise DPoPBindingError('claim "cnf.jkt" must be a string')
    return jkt


def prepare(
    policy: DPoPPolicy,
    method: str,
    uri: str,
    authorization: str | None,
    dpop: str | None,
    now: float,
) -> Credentials:
    """Split the credentials and check the proof, before the token is verified."""
    scheme, token = split_authorization(authorization)
    if scheme == "bearer":
        if not policy.allow_bearer:
            raise DPoPBindingError("this resource accepts DPoP-bound tokens only")
        return scheme, token, None
    if dpop is None or dpop == "":
        raise DPoPProofError("a DPoP request needs exactly one DPoP header", member="DPoP")
    proof = check_proof(dpop, method=method, uri=uri, policy=policy, now=now, access_token=token)
    return scheme, token, proof


def check_binding(claims: Mapping[str, Any], proof: DPoPProof | None) -> None:
    """Sections 6.1 and 7: bound to the proof's key, or without ``cnf`` when sent as Bearer.

    Raises:
        DPoPBindingError.
    """
    if proof is None:
        if "cnf" in claims:  # any confirmation method: nothing here proves possession
            raise DPoPBindingError("a key-bound token (cnf) was presented as a bearer token")
        return
    jkt = bound_jkt(claims)
    if jkt is None:
        raise DPoPBindingError("the access token is not bound to a DPoP key")
    if jkt != proof.jkt:
        raise DPoPBindingError("the access token is bound to another key than the proof's")


def _expiry(policy: DPoPPolicy, proof: DPoPProof) -> tuple[str, float]:
    key = replay_key(proof.jkt, proof.claims["jti"])
    return key, policy.remember_until(float(proof.claims["iat"]))


def record(policy: DPoPPolicy, proof: DPoPProof, now: float) -> None:
    """Remember the proof until it expires; refuse one seen before (section 11.1).

    Raises:
        DPoPReplayError; ReplayStoreError when a shared store fails.
    """
    key, expires_at = _expiry(policy, proof)
    if not policy.replay.first_use(key, expires_at, now):
        raise DPoPReplayError("this DPoP proof was used before")


async def arecord(policy: DPoPPolicy, proof: DPoPProof, now: float) -> None:
    """Like :func:`record`; a store with ``afirst_use`` is asked without blocking the loop."""
    key, expires_at = _expiry(policy, proof)
    store: Any = policy.replay
    afirst_use = getattr(store, "afirst_use", None)
    first = (
        await afirst_use(key, expires_at, now)
        if afirst_use is not None
        else store.first_use(key, expires_at, now)
    )
    if not first:
        raise DPoPReplayError("this DPoP proof was used before")
