"""The URI a client addressed, as the integrations and the mint path rebuild it for ``htu``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keywell.jose.dpop_uri import asgi_request_uri, normalize_htu, quote_path, request_uri


def _scope(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "http",
        "scheme": "http",
        "path": "/a b",
        "raw_path": b"/a%20b?x=1",
        "headers": [(b"host", b"api.internal:8000")],
        "server": ("10.0.0.5", 8000),
    }
    base.update(kw)
    return base


@pytest.mark.parametrize(
    ("scope", "public_url", "expected"),
    [
        (_scope(), None, "http://api.internal:8000/a%20b"),
        (_scope(), "https://api.example/", "https://api.example/a%20b"),
        (_scope(), "https://api.example/prefix", "https://api.example/prefix/a%20b"),
        (_scope(raw_path=None), None, "http://api.internal:8000/a%20b"),
        (_scope(headers=[]), None, "http://10.0.0.5:8000/a%20b"),
        (_scope(headers=[(b"host", b"a"), (b"host", b"b")]), None, "http://10.0.0.5:8000/a%20b"),
        (_scope(headers=[], server=None), None, "http://localhost/a%20b"),
        (_scope(scheme="wss", type="websocket"), None, "https://api.internal:8000/a%20b"),
    ],
)
def test_asgi_request_uri(scope: dict[str, Any], public_url: str | None, expected: str) -> None:
    assert asgi_request_uri(scope, public_url) == expected


def test_a_decoded_wsgi_path_requoted_normalises_like_the_clients() -> None:
    client_sent = "https://api.example/caf%C3%A9/%7Euser/a%20b"
    app_saw = request_uri(None, "https://api.example", quote_path("/café/~user/a b"))
    assert normalize_htu(app_saw) == normalize_htu(client_sent)


@pytest.mark.parametrize(
    ("host", "why"), [(b"evil host", "printable ASCII"), (b"\xff", "printable ASCII")]
)
def test_a_hostile_host_header_yields_a_uri_no_proof_matches(host: bytes, why: str) -> None:
    uri = asgi_request_uri(_scope(headers=[(b"host", host)]), None)
    with pytest.raises(ValueError, match=why):
        normalize_htu(uri)


# Every character that cannot appear in a URI as such (RFC 3986 section 2: C0
# controls, space, DEL). urlsplit silently drops tab, CR and LF anywhere and
# strips leading C0/space (WHATWG), so without a check of its own the
# normalisation would treat "https://api.ex\tample/x" as "https://api.example/x".
_NOT_IN_URIS = [chr(c) for c in range(0x21)] + ["\x7f"]
_PLACES = {
    "start": lambda c: c + "https://api.example/x",
    "scheme": lambda c: "ht" + c + "tps://api.example/x",
    "host": lambda c: "https://api.ex" + c + "ample/x",
    "port": lambda c: "https://api.example:44" + c + "3/x",
    "path": lambda c: "https://api.example/a" + c + "b",
    "end": lambda c: "https://api.example/x" + c,
}


@pytest.mark.parametrize("place", sorted(_PLACES))
@pytest.mark.parametrize("char", _NOT_IN_URIS, ids=lambda c: f"x{ord(c):02x}")
def test_a_character_no_uri_holds_is_refused_wherever_it_stands(char: str, place: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_htu(_PLACES[place](char))


@given(
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=20),
    st.sampled_from(_NOT_IN_URIS),
    st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=20),
)
@settings(max_examples=300, deadline=None)
def test_no_text_with_such_a_character_normalises(before: str, char: str, after: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        normalize_htu("https://api.example/" + before + char + after)


@pytest.mark.parametrize("char", ["\t", "\n", "\r", " "], ids=repr)
def test_a_proof_whose_htu_hides_a_control_character_is_refused(char: str) -> None:
    from keywell.errors import DPoPProofError
    from tests.jose.dpop_helpers import TOKEN, URI, good_proof, verifier

    proof = good_proof(htu=URI[:12] + char + URI[12:])
    with pytest.raises(DPoPProofError) as info:
        verifier().verify_request("GET", URI, f"DPoP {TOKEN}", proof)
    assert info.value.member == "htu"
