"""The JWT profile for OAuth 2.0 access tokens (RFC 9068).

``Verifier(..., profile="rfc9068")`` applies it: the header ``typ`` must be
``at+jwt`` (section 2.1; ``application/at+jwt`` is the same media type) and
the claims of section 2.2 must be present: ``iss``, ``exp``, ``aud``,
``sub``, ``client_id``, ``iat`` and ``jti``, each of its JSON type
(:mod:`keywell.jose.registered`). Section 4 requires checking ``iss`` and
``aud``, so the profile refuses a verifier built with either check disabled.
Refusals are :class:`~keywell.errors.ClaimError` (``claim="typ"``) and
:class:`~keywell.errors.MissingClaimError` naming the claim.
"""

from __future__ import annotations

from collections.abc import Collection

__all__ = ["PROFILES", "RFC9068_CLAIMS", "RFC9068_TYP", "profile_rules"]

RFC9068_TYP = "at+jwt"
#: The claims RFC 9068 section 2.2 requires in every access token.
RFC9068_CLAIMS: tuple[str, ...] = ("iss", "exp", "aud", "sub", "client_id", "iat", "jti")
PROFILES = frozenset({"rfc9068"})


def profile_rules(
    profile: str,
    *,
    typ: str | None,
    required: Collection[str],
    issuer_checked: bool,
    audience_checked: bool,
) -> tuple[str, tuple[str, ...]]:
    """The ``typ`` and required claims a verifier with ``profile`` enforces.

    Raises:
        ValueError: an unknown profile, another ``typ``, or ``issuer``/``audience`` set to None.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown access-token profile {profile!r}; known: {sorted(PROFILES)}")
    if typ is not None and typ.lower().removeprefix("application/") != RFC9068_TYP:
        raise ValueError(f"profile {profile} requires typ {RFC9068_TYP!r}")
    if not (issuer_checked and audience_checked):
        raise ValueError("RFC 9068 section 4 requires checking both issuer and audience")
    return RFC9068_TYP, tuple(sorted(set(required) | set(RFC9068_CLAIMS)))
