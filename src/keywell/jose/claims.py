"""JWT claim validation (RFC 7519 section 4.1, RFC 9068 section 4, RFC 8725 section 3.11).

- Every registered claim present must have its JSON type (RFC 7519
  section 4.1, table in :mod:`keywell.jose.registered`): ``"exp": null`` is
  not an absent ``exp`` but a missing required one, ``"iat": "x"`` is a
  ClaimError with reason ``"type"``, whatever the checks configured.

- ``exp`` (4.1.4): "the current date/time MUST be before the expiration
  date/time", with ``leeway`` seconds of allowed clock skew.
- ``nbf`` (4.1.5): "the current date/time MUST be after or equal to the
  not-before date/time", with the same leeway.
- ``iat`` (4.1.6): a NumericDate; a time in the future beyond the leeway is
  refused, and ``max_age`` bounds how long ago it may be.
- ``iss`` (4.1.1) and ``aud`` (4.1.3): exact, case-sensitive string matches;
  "each principal intended to process the JWT MUST identify itself with a
  value in the audience claim", so a token without ``aud`` fails a check.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from keywell.errors import ClaimError, ExpiredTokenError, MissingClaimError, NotYetValidError
from keywell.jose.registered import check_claim_types

__all__ = ["ClaimRules", "check_claims", "check_times", "check_typ", "normalize_typ"]


class ClaimRules:
    """What :func:`check_claims` enforces, normalised once at construction."""

    __slots__ = ("audience", "issuer", "leeway", "max_age", "required")

    def __init__(
        self,
        *,
        issuer: str | Collection[str] | None,
        audience: str | Collection[str] | None,
        leeway: float = 0,
        required: Collection[str] = ("exp",),
        max_age: float | None = None,
    ) -> None:
        """Validate and freeze the rules; ``None`` disables the issuer or audience check."""
        if isinstance(leeway, bool) or not isinstance(leeway, int | float) or leeway < 0:
            raise ValueError("leeway must be a non-negative number of seconds")
        if max_age is not None and (not isinstance(max_age, int | float) or max_age <= 0):
            raise ValueError("max_age must be a positive number of seconds")
        self.issuer = _names(issuer, "issuer")
        self.audience = _names(audience, "audience")
        self.leeway = float(leeway)
        self.max_age = max_age
        req = set(required)
        if self.issuer is not None:
            req.add("iss")
        if self.audience is not None:
            req.add("aud")
        if max_age is not None:
            req.add("iat")
        self.required = tuple(sorted(req))


def _names(value: str | Collection[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        if not value:
            raise ValueError(f"{what} must not be empty")
        return frozenset({value})
    names = frozenset(value)
    if not names or not all(isinstance(v, str) and v for v in names):
        raise ValueError(f"{what} must be a non-empty string or collection of strings")
    return names


def check_claims(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> None:
    """Raise the specific :class:`ClaimError` for the first rule ``claims`` breaks.

    Types first (:func:`~keywell.jose.registered.check_claim_types`: a present
    registered claim of the wrong JSON type, ``null`` included, is refused and
    a required one that is ``null`` is missing), then presence, then values.
    """
    required = rules.required
    check_claim_types(claims, required)
    for name in required:
        if name not in claims:
            raise MissingClaimError(f'required claim "{name}" is missing', claim=name)
    check_times(claims.get("exp"), claims.get("nbf"), claims.get("iat"), rules, now)
    if rules.issuer is not None and claims["iss"] not in rules.issuer:
        raise ClaimError("token issuer is not an accepted issuer", claim="iss")
    if rules.audience is not None:
        aud = claims["aud"]
        ok = aud in rules.audience if type(aud) is str else not rules.audience.isdisjoint(aud)
        if not ok:
            raise ClaimError("token audience does not include this audience", claim="aud")


def check_times(
    exp: float | None, nbf: float | None, iat: float | None, rules: ClaimRules, now: float
) -> None:
    """Check the time claims at ``now`` (seconds); ``None`` is an absent claim.

    The one rule for ``exp``, ``nbf``, ``iat`` and ``max_age``, used by
    :func:`check_claims` and by every hit of the verified-token cache
    (:mod:`keywell.jose.token_cache`), so a cached token expires exactly when
    a fresh one would (RFC 7519 sections 4.1.4-4.1.6, ``leeway`` included).

    Raises:
        ExpiredTokenError: at or after ``exp + leeway``, or older than ``max_age + leeway``.
        NotYetValidError: before ``nbf - leeway`` or ``iat - leeway``.
    """
    leeway = rules.leeway
    if exp is not None and now >= exp + leeway:
        raise ExpiredTokenError("token has expired")
    if nbf is not None and now + leeway < nbf:
        raise NotYetValidError("token is not valid yet")
    if iat is not None:
        if now + leeway < iat:
            raise NotYetValidError("token was issued in the future", claim="iat")
        if rules.max_age is not None and now - iat > rules.max_age + leeway:
            raise ExpiredTokenError("token is older than max_age", claim="iat", reason="too_old")


def normalize_typ(value: str) -> str:
    """Lower-case a media type and drop an ``application/`` prefix (RFC 7515 section 4.1.9)."""
    value = value.lower()
    return value[12:] if value.startswith("application/") else value


def check_typ(header: Mapping[str, Any], expected: str) -> None:
    """Require the header ``typ`` to equal ``expected`` (e.g. ``at+jwt``, RFC 9068 section 4)."""
    typ = header.get("typ")  # its type was checked with the header
    if type(typ) is not str or normalize_typ(typ) != normalize_typ(expected):
        raise ClaimError(f'header "typ" must be {expected!r}', claim="typ")
