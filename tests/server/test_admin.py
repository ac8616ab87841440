"""The admin API against a real Issuer: key sets, policies, rotation, revocation, audit, minting."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from keywell import JWKSet, Verifier
from keywell.errors import ExpiredTokenError
from keywell.issuer import Issuer
from keywell.server import KeywellServer, ServerConfig, create_app
from keywell.store.kek import KEKRing

from .conftest import bearer

pytestmark = pytest.mark.anyio


async def jwks(client: httpx.AsyncClient, name: str = "default") -> JWKSet:
    r = await client.get(f"/keysets/{name}/jwks.json")
    assert r.status_code == 200
    return JWKSet.from_json(r.content)


async def test_mint_a_token_and_verify_it_against_the_served_jwks(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    r = await client.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"sub": "alice", "aud": "api", "scope": "x y"}, "ttl": 120},
        headers=bearer(tokens["sign"]),
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    claims = Verifier(await jwks(client), issuer="https://issuer.test", audience="api").verify(
        token
    )
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == 120
    too_late = Verifier(
        await jwks(client),
        issuer="https://issuer.test",
        audience="api",
        clock=lambda: claims["exp"] + 1,
    )
    with pytest.raises(ExpiredTokenError):
        too_late.verify(token)


async def test_mint_refuses_a_ttl_above_the_policy_and_reserved_claims(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    h = bearer(tokens["sign"])
    r = await client.post("/admin/v1/keysets/default/tokens", json={"ttl": 3601}, headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "KW_POLICY_INVALID"
    assert r.json()["setting"] == "max_token_ttl"
    r = await client.post(
        "/admin/v1/keysets/default/tokens", json={"claims": {"exp": 1}}, headers=h
    )
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    r = await client.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"iss": "https://evil.test"}},
        headers=h,
    )
    assert r.status_code == 422
    r = await client.post("/admin/v1/keysets/missing/tokens", json={}, headers=h)
    assert r.status_code == 404
    assert r.json()["code"] == "KW_KEYSET_NOT_FOUND"


async def test_keyset_crud_and_policy_errors(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    h = bearer(tokens["admin"])
    body = {
        "name": "svc-a",
        "issuer": "https://a.test",
        "alg": "EdDSA",
        "policy": {"rotation_period": 7200, "prepublish": 3600, "jwks_max_age": 600},
    }
    r = await client.post("/admin/v1/keysets", json=body, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["alg"] == "EdDSA"
    assert created["policy"]["jwks_max_age"] == 600
    assert created["jwks_uri"] == "http://keywell.test/keysets/svc-a/jwks.json"
    assert (await client.post("/admin/v1/keysets", json=body, headers=h)).status_code == 409
    # served at once by this replica
    assert len(await jwks(client, "svc-a")) == 2  # the active key and its pending successor
    names = [k["name"] for k in (await client.get("/admin/v1/keysets", headers=h)).json()]
    assert sorted(names) == ["default", "svc-a"]
    r = await client.get("/admin/v1/keysets/svc-a", headers=bearer(tokens["read"]))
    assert r.json()["issuer"] == "https://a.test"
    assert (await client.get("/admin/v1/keysets/nope", headers=h)).status_code == 404
    bad = {"rotation_period": 3600, "jwks_max_age": 7200}
    r = await client.put("/admin/v1/keysets/svc-a/policy", json=bad, headers=h)
    assert r.status_code == 422
    assert r.json()["setting"] == "jwks_max_age"
    r = await client.post("/admin/v1/keysets", json={**body, "name": "../etc"}, headers=h)
    assert r.status_code == 422
    hmac = {"name": "private", "issuer": "https://p.test", "alg": "HS256"}
    r = await client.post("/admin/v1/keysets", json=hmac, headers=h)
    assert r.status_code == 201
    assert r.json()["jwks_uri"] is None


async def test_revoke_removes_the_key_from_the_served_set_and_is_audited(
    client: httpx.AsyncClient, tokens: dict[str, str], server: KeywellServer
) -> None:
    keys = await client.get("/admin/v1/keysets/default/keys", headers=bearer(tokens["read"]))
    active = [k for k in keys.json() if k["state"] == "active"]
    assert len(active) == 1
    kid = active[0]["kid"]
    r = await client.post(
        f"/admin/v1/keysets/default/keys/{kid}/revoke",
        json={"reason": "laptop stolen"},
        headers=bearer(tokens["revoke"]),
    )
    assert r.status_code == 200, r.text
    assert any(t["kid"] == kid and t["new_state"] == "revoked" for t in r.json())
    served = await jwks(client)
    assert kid not in served
    assert len(served) == 2  # the pending key took over, with a fresh pending successor
    after = await client.get("/admin/v1/keysets/default/keys", headers=bearer(tokens["read"]))
    states = {k["kid"]: k for k in after.json()}
    assert states[kid]["state"] == "revoked"
    assert states[kid]["revoke_reason"] == "laptop stolen"
    audit = await client.get(
        "/admin/v1/audit", params={"keyset": "default", "limit": 50}, headers=bearer(tokens["read"])
    )
    events = audit.json()
    revoked = [e for e in events if e["kid"] == kid and e["new_state"] == "revoked"]
    assert revoked
    assert revoked[0]["actor"].startswith("admin-token:")
    assert tokens["revoke"] not in audit.text
    assert server.state.metrics.revocations["default"] == 1
    r = await client.post(
        "/admin/v1/keysets/default/keys/no-such-kid/revoke",
        json={"reason": "x"},
        headers=bearer(tokens["revoke"]),
    )
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (r.json()["code"], r.json()["status"]) == ("KW_KEY_NOT_FOUND", 404)
    assert "no-such-kid" not in r.text


async def test_planned_rotation_says_when_it_is_possible(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    r = await client.post("/admin/v1/keysets/default/rotate", headers=bearer(tokens["rotate"]))
    assert r.status_code == 200
    result = r.json()
    assert result["performed"] is False
    assert result["next_possible_at"] is not None


async def test_health_readiness_and_metrics(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).status_code == 200
    await client.get("/.well-known/jwks.json")
    await client.get("/keysets/ghost/jwks.json")
    await client.post("/admin/v1/keysets/default/tokens", json={}, headers=bearer(tokens["sign"]))
    await client.get("/admin/v1/keysets")
    text = (await client.get("/metrics", headers=bearer(tokens["admin"]))).text
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            samples[name] = float(value)
    assert samples['keywell_jwks_requests_total{status="200"}'] >= 1
    assert samples['keywell_jwks_requests_total{status="404"}'] == 1
    assert samples['keywell_tokens_minted_total{keyset="default"}'] == 1
    assert samples['keywell_admin_auth_failures_total{reason="missing"}'] == 1
    assert 0 <= samples['keywell_key_age_seconds{keyset="default"}'] < 3600
    next_rotation = samples['keywell_seconds_to_next_rotation{keyset="default"}']
    assert 29 * 86400 < next_rotation <= 30 * 86400


async def test_readyz_fails_when_the_kek_cannot_decrypt(issuer: Issuer, tmp_path: Path) -> None:
    # A wrong KEK is refused at open; a running replica whose KEKs another replica's KEK
    # rotation (kek rotate: every key re-sealed under a KEK it lacks) left behind is not ready.
    url = f"sqlite:///{tmp_path / 'behind.db'}"
    k_old, k_new = b"o" * 32, b"n" * 32
    wrong = Issuer(url, keks=KEKRing([("old", k_old)]), auto_upgrade=True)
    wrong.create_keyset("default", issuer="https://issuer.test")
    ahead = Issuer(url, keks=KEKRing([("old", k_old), ("new", k_new)]))
    ahead.rewrap()
    ahead.close()
    try:
        app = create_app(wrong, ServerConfig())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "KW_KEK"
    finally:
        wrong.close()


async def test_problems_never_echo_what_the_client_sent(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    secret_claim = "s3cr3t-value-that-must-not-come-back"
    r = await client.post(
        "/admin/v1/keysets/default/tokens",
        json={"claims": {"sub": secret_claim}, "ttl": "not-a-number"},
        headers=bearer(tokens["sign"]),
    )
    assert r.status_code == 422
    assert secret_claim not in r.text
    assert "not-a-number" not in r.text
    assert r.json()["errors"][0]["loc"] == ["body", "ttl"]


async def test_body_size_is_bounded(client: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    big = json.dumps({"claims": {"pad": "x" * 70_000}})
    r = await client.post(
        "/admin/v1/keysets/default/tokens",
        content=big,
        headers={**bearer(tokens["sign"]), "Content-Type": "application/json"},
    )
    assert r.status_code == 413


async def test_logs_carry_no_token_or_key_material(
    client: httpx.AsyncClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    r = await client.post(
        "/admin/v1/keysets/default/tokens", json={}, headers=bearer(tokens["admin"])
    )
    minted = r.json()["token"]
    await client.post(
        "/admin/v1/keysets/default/rotate",
        json={"emergency": True},
        headers=bearer(tokens["admin"]),
    )
    text = caplog.text
    assert minted not in text
    assert all(secret not in text for secret in tokens.values())
    assert '"d"' not in text
