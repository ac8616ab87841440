"""Keys, tokens and hand-made DPoP proofs for the DPoP tests (a frozen clock: NOW)."""

from __future__ import annotations

import json
import secrets
from typing import Any

from keywell import JWK, jwt
from keywell.jose import DPoPPolicy, Verifier, access_token_hash
from keywell.jose._compact import compact
from keywell.jose.base64url import b64url_encode

NOW = 1_800_000_000.0
URI = "https://api.example/orders"
ISSUER = JWK.generate("ES256", kid="issuer-1")
CLIENT = JWK.generate("ES256")
OTHER = JWK.generate("ES256")
CLIENTS = {
    "ES256": CLIENT,
    "ES384": JWK.generate("ES384"),
    "EdDSA": JWK.generate("EdDSA"),
    "RS256": JWK.generate("RS256"),
    "PS256": JWK.generate("PS256"),
}


def access_token(jkt: str | None = CLIENT.thumbprint(), **extra: Any) -> str:
    claims: dict[str, Any] = {"iss": "https://as.example", "aud": "api", "exp": NOW + 300}
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}
    claims.update(extra)
    return jwt.encode(claims, ISSUER)


TOKEN = access_token()


def verifier(policy: DPoPPolicy | None = None, **kw: Any) -> Verifier:
    return Verifier(
        ISSUER.public(),
        issuer="https://as.example",
        audience="api",
        clock=lambda: NOW,
        dpop=policy or DPoPPolicy(),
        **kw,
    )


def proof_parts(
    key: JWK = CLIENT, token: str | None = TOKEN, alg: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A valid header and claims for GET URI with ``token``."""
    alg = alg or sorted(key.sign_algorithms)[0]
    public = {k: v for k, v in key.public().to_dict().items() if k != "kid"}
    header = {"typ": "dpop+jwt", "alg": alg, "jwk": public}
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12),
        "htm": "GET",
        "htu": URI,
        "iat": int(NOW),
    }
    if token is not None:
        claims["ath"] = access_token_hash(token)
    return header, claims


def forge(header: Any, claims: Any, key: JWK = CLIENT, alg: str | None = None) -> str:
    """Sign any header and claims (JSON values, even wrong ones) with ``key``."""
    _, signer = key.signer(alg or (header.get("alg") if isinstance(header, dict) else None))
    seg = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    return compact(seg, json.dumps(claims, separators=(",", ":")).encode(), signer)


def good_proof(key: JWK = CLIENT, token: str | None = TOKEN, **changes: Any) -> str:
    header, claims = proof_parts(key, token)
    claims.update(changes)
    return forge(header, claims, key, header["alg"])
