"""A caller's own httpx client whose transport hands back an already-read response.

Such a transport may also hand over header values no wire parser would pass
(a ``Content-Length`` of ``"²"`` or 5,000 digits): those must never raise
anything but the typed errors.

Recording, caching and test transports commonly return ``httpx.Response(content=...)``:
httpx has then read (and decoded) the body before keywell sees it. Such answers must
work like streamed ones, sync and async, and still be held to ``max_bytes``.
The simulation's verifiers use exactly such a transport (sim/verifiers.py).
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from keywell import JWK
from keywell.client import RemoteJWKSet, discover
from keywell.errors import DiscoveryError, JWKSFetchError
from tests.client.jwks_server import JWKSServer, jwks


class Preloading(httpx.HTTPTransport):
    """Reads the whole answer from the real server, then hands over a preloaded copy."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        body = b"".join(resp.iter_raw())
        resp.close()
        return httpx.Response(resp.status_code, headers=resp.headers, content=body)


class AsyncPreloading(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        resp = await super().handle_async_request(request)
        body = b"".join([chunk async for chunk in resp.aiter_raw()])
        await resp.aclose()
        return httpx.Response(resp.status_code, headers=resp.headers, content=body)


@pytest.mark.parametrize("encoding", ["identity", "gzip"])
def test_sync_preloaded_answer_is_used(server: JWKSServer, key_a: JWK, encoding: str) -> None:
    body = json.dumps(jwks(key_a)).encode()
    headers = {"Content-Type": "application/json"}
    if encoding == "gzip":
        body, headers["Content-Encoding"] = gzip.compress(body), "gzip"
    server.set(body=body, headers=headers)
    with (
        httpx.Client(transport=Preloading()) as client,
        RemoteJWKSet(server.url(), http_client=client, timeout=2.0) as remote,
    ):
        assert [k.kid for k in remote.jwks()] == [key_a.kid]
    assert server.hits() == 1


@pytest.mark.anyio
async def test_async_preloaded_answer_is_used(server: JWKSServer, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    async with httpx.AsyncClient(transport=AsyncPreloading()) as client:
        remote = RemoteJWKSet(server.url(), http_client=client, timeout=2.0)
        assert [k.kid for k in await remote.ajwks()] == [key_a.kid]
        await remote.aclose()
    assert server.hits() == 1


def test_preloaded_answer_is_held_to_max_bytes(server: JWKSServer, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    with (
        httpx.Client(transport=Preloading()) as client,
        RemoteJWKSet(server.url(), http_client=client, timeout=2.0, max_bytes=64) as remote,
        pytest.raises(JWKSFetchError, match=r"body of \d+ bytes exceeds max_bytes=64"),
    ):
        remote.jwks()


class OddLength(httpx.HTTPTransport):
    """Hands over the real answer with its Content-Length replaced (as a proxy might)."""

    def __init__(self, length: bytes) -> None:
        super().__init__()
        self.length = length

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        resp = super().handle_request(request)
        body = b"".join(resp.iter_raw())
        resp.close()
        headers = [(k, v) for k, v in resp.headers.raw if k.lower() != b"content-length"]
        return httpx.Response(
            resp.status_code, headers=[*headers, (b"content-length", self.length)], content=body
        )


# Content-Length values a header-number rule must survive: (value, refused with)
ODD_LENGTHS = [
    ("²".encode(), None),
    ("²".encode("latin-1"), None),
    ("٣".encode(), None),
    (b"9" * 5000, None),  # past int()'s digit limit: ignored, the decoder bounds the body
    (b"-1", None),
    (b"1e9", None),
    (b"", None),
    (b"99999999", "exceeds max_bytes"),
]


@pytest.mark.parametrize(("length", "refused"), ODD_LENGTHS)
def test_an_odd_content_length_never_raises_untyped(
    server: JWKSServer, key_a: JWK, length: bytes, refused: str | None
) -> None:
    issuer = server.url("/idp")
    server.set(
        "/idp/.well-known/openid-configuration", jwks={"issuer": issuer, "jwks_uri": server.url()}
    )
    server.set(jwks=jwks(key_a))
    with httpx.Client(transport=OddLength(length)) as client:
        remote = RemoteJWKSet(server.url(), http_client=client, timeout=2.0)
        if refused is None:
            assert [k.kid for k in remote.jwks()] == [key_a.kid]
            assert discover(issuer, client=client, timeout=2.0) == server.url()
        else:
            with pytest.raises(JWKSFetchError, match=refused):
                remote.jwks()
            with pytest.raises(DiscoveryError, match=refused):
                discover(issuer, client=client, timeout=2.0)
        remote.close()
