"""A FastAPI app protected by keywell, served by uvicorn on loopback, called by independent clients.

requests-oauth2client's DPoP support (``DPoPToken``/``DPoPKey``, jwskate
underneath) makes the proofs; it also answers keywell's ``use_dpop_nonce``
challenges by itself. Plain ``requests`` shows the RFC 9449 7.1 answers.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import requests
import uvicorn
from fastapi import Depends, FastAPI
from requests_oauth2client import DPoPKey, DPoPToken

from keywell import JWK, JWKSet, Verifier, jwt
from keywell.integrations.asgi import BearerAuthMiddleware, RequireToken, add_error_handler
from keywell.jose import DPoPPolicy, HMACNonces, make_proof

ISS = "https://as.example"
SIGNER = JWK.generate("ES256", kid="as-1")


def _token(jkt: str | None, **extra: Any) -> str:
    claims: dict[str, Any] = {"iss": ISS, "aud": "api", "exp": int(time.time()) + 300, **extra}
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    return jwt.encode(claims, SIGNER)


def _app(policy: DPoPPolicy, *, middleware: bool) -> Any:
    verifier = Verifier(JWKSet([SIGNER.public()]), issuer=ISS, audience="api", dpop=policy)
    app = FastAPI()
    add_error_handler(app)

    @app.get("/orders/{n}")
    async def order(
        n: int, claims: Mapping[str, Any] = Depends(RequireToken(verifier, scopes="read"))
    ) -> dict[str, Any]:
        return {"n": n, "sub": claims.get("sub")}

    return BearerAuthMiddleware(app, verifier) if middleware else app


class Loopback:
    """uvicorn serving ``app`` on 127.0.0.1 and a port the kernel chose, in a thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]})

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@pytest.fixture(params=["dependency", "middleware"])
def base(request: pytest.FixtureRequest) -> Iterator[str]:
    with Loopback(_app(DPoPPolicy(), middleware=request.param == "middleware")) as url:
        yield url


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "PS256", "RS256"])
def test_requests_oauth2client_proofs_are_accepted(base: str, alg: str) -> None:
    key = DPoPKey.generate(alg=alg)
    token = DPoPToken(_token(key.dpop_jkt, scope="read", sub="alice"), _dpop_key=key)
    with requests.Session() as session:
        for n in range(3):  # a fresh proof per request
            answer = session.get(f"{base}/orders/{n}", auth=token, params={"page": 2})
            assert answer.status_code == 200, answer.text
            assert answer.json() == {"n": n, "sub": "alice"}


def test_answers_follow_rfc9449_section_7_1(base: str) -> None:
    client = JWK.generate("ES256")
    bound = _token(client.thumbprint(), scope="read")
    url = f"{base}/orders/1"

    def call(headers: dict[str, str]) -> requests.Response:
        return requests.get(url, headers=headers, timeout=10)

    none = call({})
    assert none.status_code == 401
    assert none.headers["WWW-Authenticate"].startswith("DPoP algs=")
    assert none.headers["WWW-Authenticate"].endswith(", Bearer")

    as_bearer = call({"Authorization": f"Bearer {bound}"})  # section 7.2
    assert as_bearer.status_code == 401
    assert as_bearer.headers["WWW-Authenticate"].startswith('DPoP error="invalid_token"')

    bad = call({"Authorization": f"DPoP {bound}", "DPoP": "not-a-proof"})
    assert bad.status_code == 401
    challenge = bad.headers["WWW-Authenticate"]
    assert challenge.startswith('DPoP error="invalid_dpop_proof"')
    assert 'algs="ES256 ES384 Ed25519 EdDSA PS256 RS256"' in challenge
    assert bad.json()["error"] == "invalid_dpop_proof"

    proof = make_proof(client, "GET", url, access_token=bound)
    ok = call({"Authorization": f"DPoP {bound}", "DPoP": proof})
    assert ok.status_code == 200
    replayed = call({"Authorization": f"DPoP {bound}", "DPoP": proof})
    assert replayed.status_code == 401
    assert replayed.json()["error"] == "invalid_dpop_proof"

    other = JWK.generate("ES256")
    stolen = call(
        {
            "Authorization": f"DPoP {bound}",
            "DPoP": make_proof(other, "GET", url, access_token=bound),
        }
    )
    assert stolen.status_code == 401
    assert stolen.json()["error"] == "invalid_token"

    wrong_uri = make_proof(client, "GET", f"{base}/orders/2", access_token=bound)
    moved = call({"Authorization": f"DPoP {bound}", "DPoP": wrong_uri})
    assert moved.json()["error"] == "invalid_dpop_proof"

    malformed = call({"Authorization": "DPoP a b"})
    assert malformed.status_code == 400


def test_a_nonce_challenge_is_answered_by_the_independent_client() -> None:
    policy = DPoPPolicy(nonces=HMACNonces(b"k" * 32, window=300))
    with Loopback(_app(policy, middleware=False)) as url:
        bare = requests.get(
            f"{url}/orders/1",
            headers={
                "Authorization": f"DPoP {_token(JWK.generate('ES256').thumbprint())}",
                "DPoP": "x",
            },
            timeout=10,
        )
        assert bare.status_code == 401  # a malformed proof: refused before any nonce check
        key = DPoPKey.generate(alg="ES256")
        token = DPoPToken(_token(key.dpop_jkt, scope="read"), _dpop_key=key)
        first = requests.get(f"{url}/orders/7", auth=token, timeout=10)
        assert first.status_code == 200, first.text  # after one use_dpop_nonce round trip
        assert key.rs_nonce is not None
        assert policy.nonces is not None
        assert policy.nonces.is_current(key.rs_nonce, time.time())


def test_nonce_challenge_headers() -> None:
    policy = DPoPPolicy(nonces=HMACNonces(b"k" * 32, window=300))
    client = JWK.generate("ES256")
    bound = _token(client.thumbprint(), scope="read")
    with Loopback(_app(policy, middleware=True)) as url:
        target = f"{url}/orders/1"
        answer = requests.get(
            target,
            headers={
                "Authorization": f"DPoP {bound}",
                "DPoP": make_proof(client, "GET", target, access_token=bound),
            },
            timeout=10,
        )
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith('DPoP error="use_dpop_nonce"')
        nonce = answer.headers["DPoP-Nonce"]
        again = requests.get(
            target,
            headers={
                "Authorization": f"DPoP {bound}",
                "DPoP": make_proof(client, "GET", target, access_token=bound, nonce=nonce),
            },
            timeout=10,
        )
        assert again.status_code == 200
