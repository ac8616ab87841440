"""A token bound to a key by any confirmation method is never accepted as a bearer token.

RFC 9449 section 7.2 refuses a DPoP-bound token (``cnf.jkt``) presented with
``Authorization: Bearer``. The same holds for every other confirmation method
a token may carry (RFC 7800 section 3.1: ``jwk``, ``jwe``, ``kid``, ``jku``;
RFC 8705 section 3.1: ``x5t#S256``; any other member, or none): presented as
Bearer there is no proof of possession to check, so the request is a stolen
token until shown otherwise. With a DPoP proof, only a ``jkt`` equal to the
proof key's thumbprint binds (section 6.1).
"""

from __future__ import annotations

from typing import Any

import pytest

from keywell import jwt
from keywell.errors import DPoPBindingError
from keywell.jose import DPoPPolicy
from tests.jose.dpop_helpers import CLIENT, ISSUER, NOW, URI, good_proof, verifier

CONFIRMATIONS: dict[str, dict[str, Any]] = {
    "jkt": {"jkt": CLIENT.thumbprint()},
    "x5t#S256": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
    "jwk": {"jwk": CLIENT.public().to_dict()},
    "jwe": {"jwe": "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"},
    "kid": {"kid": "client-key-1"},
    "jku": {"jku": "https://client.example/jwks", "kid": "k"},
    "unknown": {"x-method": "whatever"},
    "empty": {},
}


def _token(cnf: dict[str, Any]) -> str:
    claims = {"iss": "https://as.example", "aud": "api", "exp": NOW + 60, "cnf": cnf}
    return jwt.encode(claims, ISSUER)


@pytest.mark.parametrize("method", sorted(CONFIRMATIONS))
@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER"])
def test_a_bound_token_presented_as_bearer_is_refused(method: str, scheme: str) -> None:
    token = _token(CONFIRMATIONS[method])
    with pytest.raises(DPoPBindingError):
        verifier().verify_request("GET", URI, f"{scheme} {token}", None)
    with pytest.raises(DPoPBindingError):
        verifier().verify_request("GET", URI, f"{scheme} {token}", good_proof(token=token))


@pytest.mark.parametrize("method", sorted(set(CONFIRMATIONS) - {"jkt"}))
def test_with_a_proof_only_a_matching_jkt_binds(method: str) -> None:
    token = _token(CONFIRMATIONS[method])
    with pytest.raises(DPoPBindingError):
        verifier().verify_request("GET", URI, f"DPoP {token}", good_proof(token=token))


def test_the_matching_jkt_is_accepted_and_an_unbound_bearer_token_still_passes() -> None:
    token = _token(CONFIRMATIONS["jkt"])
    claims = verifier().verify_request("GET", URI, f"DPoP {token}", good_proof(token=token))
    assert claims["cnf"]["jkt"] == CLIENT.thumbprint()
    plain = jwt.encode({"iss": "https://as.example", "aud": "api", "exp": NOW + 60}, ISSUER)
    assert verifier(DPoPPolicy()).verify_request("GET", URI, f"Bearer {plain}", None)["aud"]
