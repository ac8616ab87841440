"""Discovery (exact issuer, RFC 8414 fallback), URL rules, MultiIssuerVerifier, fetch_report."""

from __future__ import annotations

import pytest

from keywell import JWK, ClaimError, DiscoveryError, JWKSFetchError, NoMatchingKeyError, Verifier
from keywell.client import MultiIssuerVerifier, RemoteJWKSet, fetch_report
from keywell.client.discovery import metadata_urls
from keywell.client.http import check_url
from tests.client.jwks_server import Clock, JWKSServer, jwks, token


def test_from_issuer_openid_configuration(server: JWKSServer, key_a: JWK) -> None:
    issuer = server.url("/realms/main")
    server.set(
        "/realms/main/.well-known/openid-configuration",
        jwks={"issuer": issuer, "jwks_uri": server.url("/certs")},
    )
    server.set("/certs", jwks=jwks(key_a))
    remote = RemoteJWKSet.from_issuer(issuer)
    assert Verifier(remote, issuer=issuer, audience="api").verify(token(key_a, iss=issuer))
    assert server.hits("/certs") == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_from_issuer_rfc8414_fallback(
    server: JWKSServer, key_a: JWK, anyio_backend: str
) -> None:
    issuer = server.url("/tenant")
    server.set(
        "/.well-known/oauth-authorization-server/tenant",
        jwks={"issuer": issuer, "jwks_uri": server.url("/keys")},
    )
    server.set("/keys", jwks=jwks(key_a))
    remote = await RemoteJWKSet.afrom_issuer(issuer)
    claims = await Verifier(remote, issuer=issuer, audience="api").averify(token(key_a, iss=issuer))
    assert claims["iss"] == issuer
    assert server.hits("/tenant/.well-known/openid-configuration") == 1


def _discover(issuer: str, lazy: bool) -> None:
    """Eager discovery raises at construction; lazy discovery on first use."""
    remote = RemoteJWKSet.from_issuer(issuer, lazy=lazy)
    remote.jwks()


@pytest.mark.parametrize("found", ["https://evil.example", "{base}/", "{base}/other", None, 42])
@pytest.mark.parametrize("lazy", [True, False])
def test_discovery_issuer_mismatch_refused(server: JWKSServer, found: object, lazy: bool) -> None:
    issuer = server.url("/idp")
    doc = {"jwks_uri": server.url("/keys")}
    if found is not None:
        doc["issuer"] = found.format(base=issuer) if isinstance(found, str) else found  # type: ignore[assignment]
    server.set("/idp/.well-known/openid-configuration", jwks=doc)
    with pytest.raises(DiscoveryError, match="differs from the configured"):
        _discover(issuer, lazy)
    assert server.hits("/keys") == 0


@pytest.mark.parametrize("lazy", [True, False])
def test_discovery_refuses_plain_http_jwks_uri(server: JWKSServer, lazy: bool) -> None:
    issuer = server.url("/idp")
    server.set(
        "/idp/.well-known/openid-configuration",
        jwks={"issuer": issuer, "jwks_uri": "http://keys.example.com/jwks"},
    )
    with pytest.raises(DiscoveryError, match="plain http is refused"):
        _discover(issuer, lazy)


@pytest.mark.parametrize("lazy", [True, False])
def test_discovery_not_found(server: JWKSServer, lazy: bool) -> None:
    with pytest.raises(DiscoveryError, match="no discovery document"):
        _discover(server.url("/none"), lazy)


def test_metadata_urls() -> None:
    oidc, oauth = metadata_urls("https://id.example.com/t/1")
    assert str(oidc) == "https://id.example.com/t/1/.well-known/openid-configuration"
    assert str(oauth) == "https://id.example.com/.well-known/oauth-authorization-server/t/1"


@pytest.mark.parametrize(
    ("url", "allow_http", "ok"),
    [
        ("https://id.example.com/jwks", False, True),
        ("http://id.example.com/jwks", False, False),
        ("http://id.example.com/jwks", True, True),
        ("http://127.0.0.1:8080/jwks", False, True),
        ("http://localhost/jwks", False, True),
        ("http://[::1]:9000/jwks", False, True),
        ("http://10.0.0.1/jwks", False, False),
        ("ftp://id.example.com/jwks", False, False),
        ("https://user:pw@id.example.com/jwks", False, False),
        ("/relative/jwks", False, False),
    ],
)
def test_url_rules(url: str, allow_http: bool, ok: bool) -> None:
    if ok:
        check_url(url, allow_http=allow_http)
        RemoteJWKSet(url, allow_http=allow_http)
    else:
        with pytest.raises(ValueError):  # noqa: PT011
            RemoteJWKSet(url, allow_http=allow_http)


def test_construction_misuse() -> None:
    with pytest.raises(TypeError):
        RemoteJWKSet("https://a.example/jwks", http_client=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        RemoteJWKSet("https://a.example/jwks", timeout=0)
    with pytest.raises(ValueError, match="min_ttl"):
        RemoteJWKSet("https://a.example/jwks", min_ttl=900)


def test_multi_issuer_keeps_issuers_apart(
    server: JWKSServer, clock: Clock, key_a: JWK, key_b: JWK
) -> None:
    server.set("/a", jwks=jwks(key_a))
    server.set("/b", jwks=jwks(key_b))
    a, b = "https://a.example", "https://b.example"
    multi = MultiIssuerVerifier(
        {
            a: RemoteJWKSet(server.url("/a"), clock=clock),
            b: RemoteJWKSet(server.url("/b"), clock=clock),
        },
        audience="api",
    )
    assert multi.verify(token(key_a, iss=a))["iss"] == a
    assert multi.verify(token(key_b, iss=b))["iss"] == b
    # issuer A's key offered for a token claiming issuer B: B's set has no such key
    with pytest.raises(NoMatchingKeyError):
        multi.verify(token(key_a, iss=b))
    assert server.hits("/a") == 1


def test_multi_issuer_unknown_issuer_before_network(server: JWKSServer, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a))
    multi = MultiIssuerVerifier({"https://a.example": RemoteJWKSet(server.url())}, audience="api")
    with pytest.raises(ClaimError, match="not configured") as info:
        multi.verify(token(key_a, iss="https://evil.example"))
    assert info.value.reason == "unknown_issuer"
    with pytest.raises(ClaimError, match='no "iss"'):
        multi.verify(token(key_a, iss=None))  # type: ignore[arg-type]
    assert server.hits() == 0


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_multi_issuer_async_and_verifiers(
    server: JWKSServer, key_a: JWK, key_b: JWK, anyio_backend: str
) -> None:
    server.set(jwks=jwks(key_a))
    a = "https://a.example"
    multi = MultiIssuerVerifier(
        {a: Verifier(RemoteJWKSet(server.url()), issuer=a, audience="api"), "https://b": key_b},
        audience="api",
    )
    assert (await multi.averify(token(key_a, iss=a)))["iss"] == a
    with pytest.raises(ValueError, match="exactly that issuer"):
        MultiIssuerVerifier({a: Verifier(key_a, issuer="https://other", audience="api")})
    with pytest.raises(ValueError, match="audience is required"):
        MultiIssuerVerifier({a: key_a})


def test_fetch_report(server: JWKSServer, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), etag='"r1"', headers={"Cache-Control": "max-age=900"})
    report = fetch_report(server.url())
    assert report.usable_kids == ("key-a",)
    assert report.headers.etag == '"r1"'
    assert report.headers.cache_control == "max-age=900"
    assert report.ttl == 900
    server.set(status=500)
    with pytest.raises(JWKSFetchError, match="HTTP 500"):
        fetch_report(server.url())
    with pytest.raises(ValueError, match="plain http"):
        fetch_report("http://example.com/jwks")
