"""The JSON type of every registered JOSE header parameter and JWT claim, in one table.

A member that is present with another JSON type (``null`` included) is
invalid, never read as absent: ``"exp": null`` does not make a token
eternal, and ``"kid": 7`` does not fall back to trying every key.

Header parameters (RFC 7515 section 4.1, RFC 7797 section 3):

==============  ==========================================================
``alg``         string (4.1.1)
``jku``         string, a URI (4.1.2) -- never fetched
``jwk``         object (4.1.3) -- never used to choose a key
``kid``         string (4.1.4)
``x5u``         string, a URI (4.1.5) -- never fetched
``x5c``         non-empty array of strings (4.1.6)
``x5t``         string (4.1.7)
``x5t#S256``    string (4.1.8)
``typ``         string (4.1.9)
``cty``         string (4.1.10)
``crit``        non-empty array of distinct strings (4.1.11)
``b64``         boolean (RFC 7797 section 3)
==============  ==========================================================

Claims (RFC 7519 section 4.1, RFC 7800 section 3.1, RFC 8693 section 4.3):

==============  ==========================================================
``iss``         string (4.1.1)
``sub``         string (4.1.2)
``aud``         string, or non-empty array of strings (4.1.3)
``exp``         NumericDate (4.1.4)
``nbf``         NumericDate (4.1.5)
``iat``         NumericDate (4.1.6)
``jti``         string (4.1.7)
``cnf``         object (RFC 7800 section 3.1)
``client_id``   string (RFC 8693 section 4.3, RFC 9068 section 2.2)
==============  ==========================================================

A NumericDate (RFC 7519 section 2) is a JSON number: ``true`` is not one
(although Python's ``bool`` is an ``int``), and neither is a value beyond
2**53 seconds nor the infinity that ``1e309`` parses to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from keywell.errors import ClaimError, InvalidHeaderError, MissingClaimError

__all__ = [
    "CLAIM_TYPES",
    "HEADER_TYPES",
    "MAX_NUMERIC_DATE",
    "check_claim_types",
    "check_header_types",
    "is_numeric_date",
]

#: NumericDates beyond this many seconds (either sign) are refused: they are
#: nonsense and would lose precision in float arithmetic.
MAX_NUMERIC_DATE = 2**53

Check = Callable[[Any], bool]


def _string(value: Any) -> bool:
    return type(value) is str


def _object(value: Any) -> bool:
    return type(value) is dict


def _boolean(value: Any) -> bool:
    return type(value) is bool


def _strings(value: Any) -> bool:
    return type(value) is list and bool(value) and all(type(v) is str for v in value)


def _distinct_strings(value: Any) -> bool:
    return _strings(value) and len(set(value)) == len(value)


def _audience(value: Any) -> bool:
    return type(value) is str or _strings(value)


def is_numeric_date(value: Any) -> bool:
    """Whether ``value`` is a finite JSON number within +-2**53 (RFC 7519 section 2)."""
    return type(value) in (int, float) and -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE


#: Header parameter -> (check, the JSON type it names in errors).
HEADER_TYPES: Mapping[str, tuple[Check, str]] = {
    "alg": (_string, "a string"),
    "jku": (_string, "a string"),
    "jwk": (_object, "a JSON object"),
    "kid": (_string, "a string"),
    "x5u": (_string, "a string"),
    "x5c": (_strings, "a non-empty array of strings"),
    "x5t": (_string, "a string"),
    "x5t#S256": (_string, "a string"),
    "typ": (_string, "a string"),
    "cty": (_string, "a string"),
    "crit": (_distinct_strings, "a non-empty array of distinct strings"),
    "b64": (_boolean, "a boolean"),
}

#: Claim -> (check, the JSON type it names in errors).
CLAIM_TYPES: Mapping[str, tuple[Check, str]] = {
    "iss": (_string, "a string"),
    "sub": (_string, "a string"),
    "aud": (_audience, "a string or a non-empty array of strings"),
    "exp": (is_numeric_date, "a NumericDate"),
    "nbf": (is_numeric_date, "a NumericDate"),
    "iat": (is_numeric_date, "a NumericDate"),
    "jti": (_string, "a string"),
    "cnf": (_object, "a JSON object"),
    "client_id": (_string, "a string"),
}

_HEADER_ITEMS = tuple(HEADER_TYPES.items())
# The hot path walks the payload's own members (usually a handful) and checks the two
# common kinds inline; the table above stays the one statement of the rule.
_STRING, _DATE, _OTHER = 0, 1, 2
_CLAIM_KIND = {
    name: _STRING if check is _string else _DATE if check is is_numeric_date else _OTHER
    for name, (check, _) in CLAIM_TYPES.items()
}
_NUMBERS = (int, float)


def check_header_types(header: Mapping[str, Any]) -> None:
    """Refuse a registered header parameter of the wrong JSON type (RFC 7515 section 4.1).

    Raises:
        InvalidHeaderError: naming the parameter in ``member``.
    """
    for name, (check, what) in _HEADER_ITEMS:
        if name in header and not check(header[name]):
            raise InvalidHeaderError(f'header "{name}" must be {what}', member=name)


def check_claim_types(claims: Mapping[str, Any], required: tuple[str, ...] = ()) -> None:
    """Refuse a registered claim of the wrong JSON type (RFC 7519 section 4.1).

    A ``null`` claim that is ``required`` is not present (MissingClaimError);
    any other present value of the wrong type is a ClaimError with reason
    ``"type"``. Both name the claim.

    Raises:
        MissingClaimError, ClaimError.
    """
    kinds = _CLAIM_KIND
    for name, value in claims.items():
        kind = kinds.get(name)
        if kind is None:
            continue
        if kind == _STRING:
            if type(value) is str:
                continue
        elif kind == _DATE:
            if type(value) in _NUMBERS and -MAX_NUMERIC_DATE <= value <= MAX_NUMERIC_DATE:
                continue
        elif CLAIM_TYPES[name][0](value):
            continue
        if value is None and name in required:
            raise MissingClaimError(f'required claim "{name}" is null', claim=name)
        what = CLAIM_TYPES[name][1]
        raise ClaimError(f'claim "{name}" must be {what}', claim=name, reason="type")
