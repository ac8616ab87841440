"""JSON inside tokens: I-JSON strings (RFC 7493 section 2.1), escapes decoded like any JSON."""

from __future__ import annotations

import pytest

from keywell import JWK, errors, jws
from keywell.jose.base64url import b64url_encode

KEY = JWK.generate("HS256", kid="k")


def _token(header: bytes, payload: bytes) -> str:
    signing_input = f"{b64url_encode(header)}.{b64url_encode(payload)}"
    _, sign = KEY.signer("HS256")
    return f"{signing_input}.{b64url_encode(sign(signing_input.encode()))}"


@pytest.mark.parametrize("escape", [rb"\ud800", rb"\uDFFF", rb"x\udbff"])
def test_a_lone_surrogate_in_the_payload_is_refused(escape: bytes) -> None:
    from keywell.jose._json import loads_object

    with pytest.raises(errors.MalformedTokenError, match="surrogate"):
        loads_object(b'{"sub":"' + escape + b'"}', "payload")


def test_a_lone_surrogate_in_the_header_is_refused() -> None:
    token = _token(b'{"alg":"HS256","kid":"\\ud800"}', b"{}")
    with pytest.raises(errors.MalformedTokenError, match="surrogate"):
        jws.verify(token, KEY)


def test_escaped_pairs_and_ordinary_escapes_are_accepted() -> None:
    from keywell.jose._json import loads_object

    claims = loads_object(b'{"sub":"\\ud83d\\ude00 \\u00e9 \\"q\\""}', "payload")
    assert claims["sub"] == '\U0001f600 \u00e9 "q"'
