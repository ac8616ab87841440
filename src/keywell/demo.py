"""A short tour of keywell.jose, run by ``make run`` until the key server lands.

Generates an ES256 key, prints the public JWK Set, signs a token, verifies it,
and shows a tampered token being refused with a typed error.
"""

from __future__ import annotations

import json
import time

from keywell import JWK, JWKSet, KeywellError, Verifier, jwt


def main() -> None:
    """Run the demo and print what happens at each step."""
    key = JWK.generate("ES256")
    jwks = JWKSet([key.public()])
    print("Public JWK Set (what /.well-known/jwks.json would serve):")
    print(json.dumps(jwks.to_dict(), indent=2))
    now = int(time.time())
    claims = {"iss": "https://issuer.example", "aud": "api", "sub": "alice", "iat": now}
    token = jwt.encode({**claims, "exp": now + 300}, key)
    print(f"\nSigned token:\n{token}")
    verifier = Verifier(jwks, issuer="https://issuer.example", audience="api")
    print(f"\nVerified claims: {dict(verifier.verify(token))}")
    header, _payload, signature = token.split(".")
    forged = jwt.encode({**claims, "sub": "mallory", "exp": now + 300}, JWK.generate("ES256"))
    tampered = f"{header}.{forged.split('.')[1]}.{signature}"
    try:
        verifier.verify(tampered)
    except KeywellError as exc:
        print(f"\nTampered token refused: {type(exc).__name__} [{exc.code}] {exc}")
    else:  # pragma: no cover - would be a defect
        raise SystemExit("a tampered token was accepted")


if __name__ == "__main__":
    main()
