"""The key server mints DPoP-bound tokens: cnf.jkt from a checked proof on the mint request."""

from __future__ import annotations

import json

import httpx
import pytest

from keywell import JWK, JWKSet, Verifier
from keywell.issuer import Issuer
from keywell.jose import DPoPPolicy, make_proof
from keywell.jose.base64url import b64url_decode

from .conftest import BASE, bearer

pytestmark = pytest.mark.anyio
PATH = "/admin/v1/keysets/default/tokens"
MINT_URL = BASE + PATH


def _claims(token: str) -> dict[str, object]:
    return json.loads(b64url_decode(token.split(".")[1]))


async def test_a_proof_on_the_mint_request_binds_the_token_end_to_end(
    client: httpx.AsyncClient, issuer: Issuer, tokens: dict[str, str]
) -> None:
    key = JWK.generate("EdDSA")
    headers = {**bearer(tokens["sign"]), "DPoP": make_proof(key, "POST", MINT_URL)}
    minted = await client.post(PATH, json={"claims": {"aud": "api"}}, headers=headers)
    assert minted.status_code == 201, minted.text
    assert minted.json()["token_type"] == "DPoP"
    token = minted.json()["token"]
    assert _claims(token)["cnf"] == {"jkt": key.thumbprint()}

    verifier = Verifier(
        JWKSet.from_json(issuer.jwks("default").body),
        issuer="https://issuer.test",
        audience="api",
        dpop=DPoPPolicy(),
    )
    uri = "https://api.example/data"
    proof = make_proof(key, "GET", uri, access_token=token)
    claims = await verifier.averify_request("GET", uri, f"DPoP {token}", proof)
    assert claims["aud"] == "api"


async def test_without_a_proof_the_token_is_a_plain_jwt(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    minted = await client.post(PATH, json={"claims": {}}, headers=bearer(tokens["sign"]))
    assert minted.json()["token_type"] == "JWT"
    assert "cnf" not in _claims(minted.json()["token"])


@pytest.mark.parametrize(
    "proof",
    [
        "garbage",
        "wrong-method",
        "wrong-url",
        "replayed",  # a valid proof, sent twice: the second is a replay
    ],
)
async def test_refused_proofs_are_400_problems(
    client: httpx.AsyncClient, tokens: dict[str, str], proof: str
) -> None:
    key = JWK.generate("ES256")
    value = {
        "garbage": "a.b.c",
        "wrong-method": make_proof(key, "GET", MINT_URL),
        "wrong-url": make_proof(key, "POST", BASE + "/admin/v1/keysets/other/tokens"),
        "replayed": make_proof(key, "POST", MINT_URL),
    }[proof]
    headers = {**bearer(tokens["sign"]), "DPoP": value}
    if proof == "replayed":
        first = await client.post(PATH, json={"claims": {}}, headers=headers)
        assert first.status_code == 201
    answer = await client.post(PATH, json={"claims": {}}, headers=headers)
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] in ("KW_DPOP_PROOF_INVALID", "KW_DPOP_REPLAY")
    assert body["error"] == "invalid_dpop_proof"


async def test_two_proofs_or_a_cnf_claim_next_to_a_proof_are_refused(
    client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    key = JWK.generate("ES256")
    two = httpx.Headers(
        [
            ("Authorization", f"Bearer {tokens['sign']}"),
            ("DPoP", make_proof(key, "POST", MINT_URL)),
            ("DPoP", make_proof(key, "POST", MINT_URL)),
        ]
    )
    answer = await client.post(PATH, json={"claims": {}}, headers=two)
    assert answer.status_code == 400
    headers = {**bearer(tokens["sign"]), "DPoP": make_proof(key, "POST", MINT_URL)}
    both = await client.post(PATH, json={"claims": {"cnf": {"jkt": "x"}}}, headers=headers)
    assert both.status_code == 422


async def test_a_proof_is_checked_only_after_the_caller_is_authenticated(
    client: httpx.AsyncClient,
) -> None:
    key = JWK.generate("ES256")
    answer = await client.post(
        PATH, json={"claims": {}}, headers={"DPoP": make_proof(key, "POST", MINT_URL)}
    )
    assert answer.status_code == 401
