"""Named attacks on the claims and the header ``typ`` of genuinely signed tokens.

Each token here carries a valid signature by the victim's key: only the claims
(RFC 7519 4.1, RFC 8725 3.8-3.11) or ``typ`` (RFC 9068 4) are wrong, and each is
refused with the specific :class:`~keywell.ClaimError` subclass naming the claim.
"""

from __future__ import annotations

from typing import Any

import pytest

from keywell import ClaimError, ExpiredTokenError, MissingClaimError, NotYetValidError, Verifier
from keywell import jwt as kjwt
from tests.jose.attack_helpers import AUD, CLAIMS, ISS, NOW, decode, hs_key, refused, registry

pytestmark = pytest.mark.usefixtures("ed25519_backend")  # both Ed25519 paths

ATTACKS, attack = registry()


def _signed(typ: str | None = "JWT", **changes: Any) -> str:
    """The victim's HS256 token with claims changed (``None`` removes a claim)."""
    body = {**CLAIMS, **changes}
    return kjwt.encode({k: v for k, v in body.items() if v is not None}, hs_key(), typ=typ)


def _claims(expected: type[ClaimError], name: str, claim: str, **changes: Any) -> None:
    attack(name, expected, claim=claim)(lambda: decode(_signed(**changes), hs_key()))


# -- time ------------------------------------------------------------------------------------

_claims(ExpiredTokenError, "expired", "exp", exp=NOW - 1)
_claims(ExpiredTokenError, "expired-exactly-now", "exp", exp=NOW)
attack("expired-beyond-leeway", ExpiredTokenError, claim="exp")(
    lambda: decode(_signed(exp=NOW - 31), hs_key(), leeway=30)
)
_claims(NotYetValidError, "not-yet-valid-nbf", "nbf", nbf=NOW + 60)
_claims(NotYetValidError, "issued-in-the-future-iat", "iat", iat=NOW + 60)
attack("older-than-max-age", ExpiredTokenError, claim="iat", reason="too_old")(
    lambda: decode(_signed(iat=NOW - 3600), hs_key(), max_age=600)
)
_claims(MissingClaimError, "missing-exp", "exp", exp=None)
attack("missing-iat-with-max-age", MissingClaimError, claim="iat")(
    lambda: decode(_signed(iat=None), hs_key(), max_age=600)
)
_claims(ClaimError, "exp-as-string", "exp", exp=str(NOW + 300))
_claims(ClaimError, "exp-as-bool", "exp", exp=True)
_claims(ClaimError, "nbf-as-string", "nbf", nbf="0")
_claims(ClaimError, "iat-as-list", "iat", iat=[NOW])

# -- issuer and audience ------------------------------------------------------------------------

_claims(ClaimError, "wrong-issuer", "iss", iss="https://attacker.example")
_claims(ClaimError, "issuer-case-changed", "iss", iss=ISS.upper())
_claims(ClaimError, "issuer-trailing-slash", "iss", iss=ISS + "/")
_claims(ClaimError, "issuer-as-list", "iss", iss=[ISS])
_claims(MissingClaimError, "missing-issuer", "iss", iss=None)
_claims(ClaimError, "wrong-audience", "aud", aud="api://other")
_claims(ClaimError, "audience-list-without-ours", "aud", aud=["api://a", "api://b"])
_claims(ClaimError, "audience-as-number", "aud", aud=42)
_claims(ClaimError, "audience-list-with-number", "aud", aud=[AUD, 42])
_claims(ClaimError, "audience-empty-list", "aud", aud=[])
_claims(ClaimError, "audience-as-object", "aud", aud={"aud": AUD})
_claims(MissingClaimError, "missing-audience", "aud", aud=None)
_claims(ClaimError, "subject-as-number", "sub", sub=1)

# -- typ (RFC 9068 4: access tokens are "at+jwt") -------------------------------------------


def _verifier() -> Verifier:
    return Verifier(hs_key(), issuer=ISS, audience=AUD, typ="at+jwt", clock=lambda: NOW)


attack("typ-jwt-where-at-jwt-required", ClaimError, claim="typ")(
    lambda: _verifier().verify(_signed(typ="JWT"))
)
attack("typ-missing-where-at-jwt-required", ClaimError, claim="typ")(
    lambda: _verifier().verify(_signed(typ=None))
)
attack("typ-id-token-where-at-jwt-required", ClaimError, claim="typ")(
    lambda: decode(_signed(typ="application/id_token+jwt"), hs_key(), typ="at+jwt")
)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(name: str) -> None:
    expected, call, attrs = ATTACKS[name]
    refused(expected, call, **attrs)


def test_the_same_token_passes_when_the_claims_are_right() -> None:
    """The control: the signing and clock used above accept a correct token."""
    assert dict(decode(_signed(), hs_key())) == CLAIMS
    assert dict(_verifier().verify(_signed(typ="at+jwt"))) == CLAIMS
    assert dict(_verifier().verify(_signed(typ="application/AT+JWT"))) == CLAIMS
