"""Every file in examples/ runs here, against real parts (keywell serve, HTTP, SQLite)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from keywell import JWK, JWKSet, Verifier, jwt
from tests.docs.server import DocsServer, example_env, free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def anyio_backend() -> str:
    """The ASGI examples run on asyncio (what uvicorn and granian use)."""
    return "asyncio"


def load(name: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import examples/<name>.py afresh with ``env`` set (examples read settings at import)."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _tokens(server: DocsServer) -> dict[str, str]:
    base = {"sub": "alice", "aud": "my-api"}
    return {
        "reader": server.mint({**base, "scope": "orders:read"}),
        "writer": server.mint({**base, "scope": "orders:write"}),
        "other-audience": server.mint({**base, "aud": "another-api"}),
    }


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.anyio
async def test_fastapi_app(docs_server: DocsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The FastAPI example verifies the key server's tokens: 200, 401, 403 as documented."""
    module = load("fastapi_app", {"KEYWELL_ISSUER": docs_server.base}, monkeypatch)
    tokens = _tokens(docs_server)
    transport = httpx.ASGITransport(app=module.app)
    async with module.keys, httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/me")).status_code == 401
        refused = await client.get("/me", headers=_auth(tokens["other-audience"]))
        assert refused.status_code == 401
        assert "error" in refused.json()
        me = await client.get("/me", headers=_auth(tokens["reader"]))
        assert me.json() == {"sub": "alice"}
        scoped = await client.post("/orders", headers=_auth(tokens["reader"]))
        assert scoped.status_code == 403
        assert scoped.json()["error"] == "insufficient_scope"  # RFC 6750, not {"detail": ...}
        assert 'error="insufficient_scope"' in scoped.headers["www-authenticate"]
        created = await client.post("/orders", headers=_auth(tokens["writer"]))
        assert created.json() == {"created_by": "alice"}


def test_flask_app(docs_server: DocsServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Flask example, through its application factory."""
    module = load("flask_app", {"KEYWELL_ISSUER": docs_server.base}, monkeypatch)
    tokens = _tokens(docs_server)
    with module.keys, module.create_app().test_client() as web:
        assert web.get("/healthz").get_json() == {"status": "ok"}
        assert web.get("/me").status_code == 401
        assert web.get("/me", headers=_auth(tokens["other-audience"])).status_code == 401
        assert web.get("/me", headers=_auth(tokens["reader"])).get_json() == {"sub": "alice"}
        assert web.post("/orders", headers=_auth(tokens["reader"])).status_code == 403
        created = web.post("/orders", headers=_auth(tokens["writer"]))
        assert created.get_json() == {"created_by": "alice"}


def test_django_app(docs_server: DocsServer, tmp_path: Path) -> None:
    """The single-file Django example, run as documented (`runserver`) on a free port."""
    env = {**example_env(tmp_path), "KEYWELL_ISSUER": docs_server.base}
    port = free_port()
    command = [sys.executable, str(EXAMPLES / "django_app.py"), "runserver", "--noreload"]
    proc = subprocess.Popen(
        [*command, f"127.0.0.1:{port}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # bounded: up to about 20 s
            try:
                if httpx.get(f"{base}/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        tokens = _tokens(docs_server)
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/me").status_code == 401
        assert httpx.get(f"{base}/me", headers=_auth(tokens["reader"])).json() == {"sub": "alice"}
        assert httpx.post(f"{base}/orders", headers=_auth(tokens["reader"])).status_code == 403
        created = httpx.post(f"{base}/orders", headers=_auth(tokens["writer"]))
        assert created.json() == {"created_by": "alice"}
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.anyio
async def test_issuer_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded-Issuer example signs tokens that verify against the set it publishes."""
    env = example_env(tmp_path)
    env["KEYWELL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'issuer-service.db'}"
    env["KEYWELL_ISSUER"] = "https://orders.example"
    module = load("issuer_service", env, monkeypatch)
    try:
        transport = httpx.ASGITransport(app=module.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            answer = await client.post("/token", json={"user": "bob", "audience": "billing"})
            token = answer.json()["token"]
            published = await client.get("/.well-known/jwks.json")
            assert published.headers["content-type"] == "application/jwk-set+json"
            assert "max-age=" in published.headers["cache-control"]
            etag = published.headers["etag"]
            again = await client.get("/.well-known/jwks.json", headers={"If-None-Match": etag})
            assert again.status_code == 304
        keys = JWKSet.from_json(published.content)
        verifier = Verifier(keys, issuer="https://orders.example", audience="billing")
        assert verifier.verify(token)["sub"] == "bob"
    finally:
        module.issuer.close()


def _provider_token(provider: str, issuer: str, audience: str = "client-123") -> str:
    keys = json.loads((DATA / f"{provider}.private.json").read_text())["keys"]
    key = JWK.from_dict(keys[0])
    claims = {"iss": issuer, "aud": audience, "sub": "1234567890", "exp": int(time.time()) + 600}
    return jwt.encode({**claims, "iat": int(time.time())}, key)


def _run_verify(token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    script = EXAMPLES / "verify_google_microsoft.py"
    return subprocess.run(
        [sys.executable, str(script), token, "--audience", "client-123", *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("provider", "issuer", "extra"),
    [
        ("google", "https://accounts.google.com", ()),
        ("microsoft", "https://login.microsoftonline.com/tenant-1/v2.0", ("--tenant", "tenant-1")),
    ],
)
def test_verify_google_microsoft_accepts(
    provider: str, issuer: str, extra: tuple[str, ...]
) -> None:
    """A token signed with a key of the fixed set verifies; the claims are printed as JSON."""
    result = _run_verify(_provider_token(provider, issuer), *extra)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["iss"] == issuer


@pytest.mark.parametrize(
    ("token_of", "code"),
    [
        # a Microsoft key cannot vouch for a Google token: the issuers' keys stay apart
        (lambda: _provider_token("microsoft", "https://accounts.google.com"), "KW_NO_MATCHING_KEY"),
        (
            lambda: _provider_token("google", "https://accounts.google.com", "other"),
            "KW_CLAIM_INVALID",
        ),
        (lambda: _provider_token("google", "https://evil.example"), "KW_CLAIM_INVALID"),
    ],
    ids=["key-of-the-other-issuer", "wrong-audience", "unknown-issuer"],
)
def test_verify_google_microsoft_refuses(token_of: object, code: str) -> None:
    """Refusals exit 1 and name the error code."""
    result = _run_verify(token_of())  # type: ignore[operator]
    assert result.returncode == 1
    assert f"refused: {code}" in result.stderr


def test_fixed_sets_hold_public_keys_only() -> None:
    """The committed sets are public halves (the private ones live only in tests/examples/data)."""
    for name in ("google", "microsoft"):
        document = json.loads((EXAMPLES / "jwks" / f"{name}.json").read_text())
        assert all("d" not in key for key in document["keys"])
        assert len(JWKSet.from_dict(document)) == len(document["keys"])
