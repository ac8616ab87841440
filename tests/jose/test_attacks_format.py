"""Named attacks on the token format: base64url, segments, header contents, size, encoding.

One param id per attack, each refused with its specific keywell error (see
``attack_helpers.refused``). Tokens whose *signed* parts are malformed are
signed over those exact parts with the victim's HMAC key, so the refusal is
about the format, not the signature.
"""

from __future__ import annotations

import pytest

from keywell import (
    InvalidHeaderError,
    InvalidSignatureError,
    MalformedTokenError,
    TokenTooLargeError,
    Verifier,
    jwt,
)
from keywell.jose.base64url import b64url_encode
from tests.jose.attack_helpers import (
    AUD,
    CLAIMS,
    ISS,
    b64json,
    decode,
    hmac_forge,
    hs_key,
    refused,
    registry,
    sign_segments,
)

pytestmark = pytest.mark.usefixtures("ed25519_backend")  # both Ed25519 paths

ATTACKS, attack = registry()
_HEADER = b64json({"alg": "HS256", "typ": "JWT", "kid": "hs"})


def _good() -> str:
    return jwt.encode(CLAIMS, hs_key())


# -- base64url in each segment ---------------------------------------------------------------

_EDITS = {"padded-1": "=", "padded-2": "==", "std-alphabet": "+/", "truncated": ""}


def _edit(seg: str, edit: str) -> str:
    if edit == "truncated":  # cut to a length no base64url text can have
        while len(seg) % 4 != 1:
            seg = seg[:-1]
        return seg
    return seg + _EDITS[edit]


def _edit_segment(index: int, edit: str, *, resign: bool) -> object:
    h, p, s = _good().split(".")
    parts = [h, p, s]
    parts[index] = _edit(parts[index], edit)
    token = sign_segments(parts[0], parts[1]) if resign else ".".join(parts)
    return decode(token, hs_key())


for _edit_name in _EDITS:
    attack(f"header-base64-{_edit_name}", MalformedTokenError)(
        lambda e=_edit_name: _edit_segment(0, e, resign=False)
    )
    # The signature covers the encoded payload: signed over the bad text, the
    # payload is refused when decoded; edited after signing, the signature fails first.
    attack(f"payload-base64-{_edit_name}", MalformedTokenError)(
        lambda e=_edit_name: _edit_segment(1, e, resign=True)
    )
    attack(f"payload-base64-{_edit_name}-unsigned", InvalidSignatureError)(
        lambda e=_edit_name: _edit_segment(1, e, resign=False)
    )
    attack(f"signature-base64-{_edit_name}", MalformedTokenError)(
        lambda e=_edit_name: _edit_segment(2, e, resign=False)
    )


# -- segments and characters ------------------------------------------------------------------

attack("two-segments", MalformedTokenError)(lambda: decode(_good().rsplit(".", 1)[0], hs_key()))
attack("four-segments", MalformedTokenError)(lambda: decode(_good() + ".e30", hs_key()))
attack("jwe-shaped-five-segments", MalformedTokenError)(
    lambda: decode(b64json({"alg": "RSA-OAEP", "enc": "A256GCM"}) + ".a.b.c.d", hs_key())
)
attack("empty-segments", MalformedTokenError)(lambda: decode("..", hs_key()))
attack("empty-token", MalformedTokenError)(lambda: decode("", hs_key()))
attack("trailing-newline", MalformedTokenError)(lambda: decode(_good() + "\n", hs_key()))
attack("leading-space", MalformedTokenError)(lambda: decode(" " + _good(), hs_key()))
attack("non-ascii-token", MalformedTokenError)(lambda: decode(_good() + "é", hs_key()))
attack("non-ascii-token-bytes", MalformedTokenError)(
    lambda: decode(_good().encode() + b"\xff", hs_key())
)


# -- the protected header must be one JSON object, without duplicates ------------------------

for _name, _raw in {
    "array": b'["alg","HS256"]',
    "string": b'"HS256"',
    "number": b"256",
    "null": b"null",
    "not-json": b"{alg:HS256}",
}.items():
    attack(f"header-is-{_name}", MalformedTokenError)(
        lambda raw=_raw: decode(hmac_forge(raw), hs_key())
    )
attack("header-duplicate-alg", MalformedTokenError)(
    lambda: decode(hmac_forge(b'{"alg":"HS256","alg":"none"}'), hs_key())
)
attack("header-duplicate-kid", MalformedTokenError)(
    lambda: decode(hmac_forge(b'{"alg":"HS256","kid":"hs","kid":"other"}'), hs_key())
)
attack("payload-duplicate-sub", MalformedTokenError)(
    lambda: decode(
        hmac_forge(
            {"alg": "HS256"},
            payload=b'{"iss":"%s","aud":"%s","exp":1700000300,"sub":"alice","sub":"admin"}'
            % (ISS.encode(), AUD.encode()),
        ),
        hs_key(),
    )
)
attack("payload-is-array", MalformedTokenError)(
    lambda: decode(hmac_forge({"alg": "HS256"}, payload=b"[1,2]"), hs_key())
)


# -- crit and b64 (RFC 7515 4.1.11, RFC 7797) --------------------------------------------------

for _name, _header in {
    "crit-unknown": {"alg": "HS256", "crit": ["urn:x:y"], "urn:x:y": 1},
    "crit-names-missing-member": {"alg": "HS256", "crit": ["urn:x:y"]},
    "crit-empty": {"alg": "HS256", "crit": []},
    "crit-not-a-list": {"alg": "HS256", "crit": "urn:x:y", "urn:x:y": 1},
    "crit-repeated": {"alg": "HS256", "crit": ["urn:x:y", "urn:x:y"], "urn:x:y": 1},
    "crit-names-alg": {"alg": "HS256", "crit": ["alg"]},
    "b64-false": {"alg": "HS256", "b64": False, "crit": ["b64"]},
    "b64-false-without-crit": {"alg": "HS256", "b64": False},
}.items():
    attack(_name, InvalidHeaderError, member=_name.split("-")[0])(
        lambda h=_header: decode(hmac_forge(h), hs_key())
    )


# -- size: refused before any parsing ------------------------------------------------------------

attack("oversized-token", TokenTooLargeError)(
    lambda: decode(jwt.encode({**CLAIMS, "pad": "x" * 20_000}, hs_key()), hs_key())
)
attack("oversized-invalid-base64", TokenTooLargeError)(lambda: decode("!" * 20_000, hs_key()))
attack("oversized-non-ascii-bytes", TokenTooLargeError)(lambda: decode(b"\xff" * 20_000, hs_key()))
attack("oversized-custom-limit", TokenTooLargeError)(lambda: decode(_good(), hs_key(), max_size=64))
attack("oversized-verifier-limit", TokenTooLargeError)(
    lambda: Verifier(hs_key(), issuer=ISS, audience=AUD, max_size=64).verify("." * 65)
)


# -- bytes that are not UTF-8, and JSON that is not JSON ---------------------------------------

_PAYLOAD = b64json(CLAIMS)
for _name, _raw in {
    "header-not-utf8": b'{"alg":"HS256","x":"\xff"}',
    "header-overlong-utf8": b'{"alg":"HS256","x":"\xc0\xae"}',
    "header-utf16": '{"alg":"HS256"}'.encode("utf-16"),
    "header-utf8-bom": b'\xef\xbb\xbf{"alg":"HS256"}',
    "header-nan-constant": b'{"alg":"HS256","x":NaN}',  # RFC 8259 has no NaN
}.items():
    attack(_name, MalformedTokenError)(
        lambda raw=_raw: decode(sign_segments(b64url_encode(raw), _PAYLOAD), hs_key())
    )
for _name, _raw in {
    "payload-not-utf8": b'{"sub":"\xff"}',
    "payload-nan-constant": b'{"x":NaN}',
    "payload-infinity-constant": b'{"x":-Infinity}',
}.items():
    attack(_name, MalformedTokenError)(
        lambda raw=_raw: decode(
            sign_segments(_HEADER, b64url_encode(raw[:-1] + b',"exp":1700000300}')),
            hs_key(),
            issuer=None,
            audience=None,
        )
    )


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack(name: str) -> None:
    expected, call, attrs = ATTACKS[name]
    refused(expected, call, **attrs)
