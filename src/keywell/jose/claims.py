"""JWT claim validation (RFC 7519 section 4.1, RFC 9068 section 4, RFC 8725 section 3.11).

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

__all__ = ["ClaimRules", "check_claims", "check_typ", "normalize_typ"]

# A NumericDate beyond 2**53 seconds is nonsense and would overflow float
# arithmetic; the chained comparison also refuses NaN and the infinities.
_MAX_DATE = 2**53


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


def _bad_numeric(name: str) -> ClaimError:
    return ClaimError(f'claim "{name}" must be a NumericDate', claim=name, reason="type")


_NUMBER_TYPES = (int, float)


def check_claims(claims: Mapping[str, Any], rules: ClaimRules, now: float) -> None:
    """Raise the specific :class:`ClaimError` for the first rule ``claims`` breaks."""
    for name in rules.required:
        if name not in claims:
            raise MissingClaimError(f'required claim "{name}" is missing', claim=name)
    leeway = rules.leeway
    get = claims.get
    exp = get("exp")
    if exp is not None:
        if type(exp) not in _NUMBER_TYPES or not -_MAX_DATE <= exp <= _MAX_DATE:
            raise _bad_numeric("exp")
        if now >= exp + leeway:
            raise ExpiredTokenError("token has expired")
    nbf = get("nbf")
    if nbf is not None:
        if type(nbf) not in _NUMBER_TYPES or not -_MAX_DATE <= nbf <= _MAX_DATE:
            raise _bad_numeric("nbf")
        if now + leeway < nbf:
            raise NotYetValidError("token is not valid yet")
    iat = get("iat")
    if iat is not None:
        if type(iat) not in _NUMBER_TYPES or not -_MAX_DATE <= iat <= _MAX_DATE:
            raise _bad_numeric("iat")
        if now + leeway < iat:
            raise NotYetValidError("token was issued in the future", claim="iat")
        if rules.max_age is not None and now - iat > rules.max_age + leeway:
            raise ExpiredTokenError("token is older than max_age", claim="iat", reason="too_old")
    if rules.issuer is not None:
        iss = claims["iss"]
        if type(iss) is not str:
            raise ClaimError('claim "iss" must be a string', claim="iss", reason="type")
        if iss not in rules.issuer:
            raise ClaimError("token issuer is not an accepted issuer", claim="iss")
    if rules.audience is not None:
        aud = claims["aud"]
        if type(aud) is str:
            ok = aud in rules.audience
        elif type(aud) is list and aud and all(type(a) is str for a in aud):
            ok = not rules.audience.isdisjoint(aud)
        else:
            raise ClaimError(
                'claim "aud" must be a string or array of strings', claim="aud", reason="type"
            )
        if not ok:
            raise ClaimError("token audience does not include this audience", claim="aud")
    sub = get("sub")
    if sub is not None and type(sub) is not str:
        raise ClaimError('claim "sub" must be a string', claim="sub", reason="type")
    jti = get("jti")
    if jti is not None and type(jti) is not str:
        raise ClaimError('claim "jti" must be a string', claim="jti", reason="type")


def normalize_typ(value: str) -> str:
    """Lower-case a media type and drop an ``application/`` prefix (RFC 7515 section 4.1.9)."""
    value = value.lower()
    return value[12:] if value.startswith("application/") else value


def check_typ(header: Mapping[str, Any], expected: str) -> None:
    """Require the header ``typ`` to equal ``expected`` (e.g. ``at+jwt``, RFC 9068 section 4)."""
    typ = header.get("typ")
    if type(typ) is not str or normalize_typ(typ) != normalize_typ(expected):
        raise ClaimError(f'header "typ" must be {expected!r}', claim="typ")
