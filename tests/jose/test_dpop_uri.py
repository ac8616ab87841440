"""The URI a client addressed, as the integrations and the mint path rebuild it for ``htu``."""

from __future__ import annotations

from typing import Any

import pytest

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


@pytest.mark.parametrize(("host", "why"), [(b"evil host", "host"), (b"\xff", "ASCII")])
def test_a_hostile_host_header_yields_a_uri_no_proof_matches(host: bytes, why: str) -> None:
    uri = asgi_request_uri(_scope(headers=[(b"host", host)]), None)
    with pytest.raises(ValueError, match=why):
        normalize_htu(uri)
