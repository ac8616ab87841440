"""Verify ID tokens from Google and Microsoft with one verifier, against fixed JWK Set files.

The files in ``examples/jwks/`` are **not** Google's or Microsoft's keys: they
are RSA keys generated for this example, shaped like the sets those providers
publish (so the example and its test run offline). In production, replace
each file with the provider's live set, fetched and cached for you::

    RemoteJWKSet.from_issuer("https://accounts.google.com")
    RemoteJWKSet("https://login.microsoftonline.com/<tenant>/discovery/v2.0/keys")

Usage::

    python examples/verify_google_microsoft.py TOKEN --audience CLIENT_ID [--tenant TENANT_ID]

Prints the verified claims as JSON, or the error code and reason (exit 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from keywell import JWKSet, KeywellError
from keywell.client import MultiIssuerVerifier

HERE = Path(__file__).resolve().parent
GOOGLE = "https://accounts.google.com"
MICROSOFT = "https://login.microsoftonline.com/{tenant}/v2.0"


def build_verifier(audience: str, tenant: str) -> MultiIssuerVerifier:
    """One verifier for both providers; each token is checked against its own issuer's keys."""
    google = JWKSet.from_json((HERE / "jwks" / "google.json").read_text())
    microsoft = JWKSet.from_json((HERE / "jwks" / "microsoft.json").read_text())
    return MultiIssuerVerifier(
        {GOOGLE: google, MICROSOFT.format(tenant=tenant): microsoft},
        audience=audience,
        algorithms=["RS256"],
        leeway=60,
    )


def main(argv: list[str] | None = None) -> int:
    """Verify one token; print its claims (exit 0) or why it was refused (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("token")
    parser.add_argument("--audience", required=True, help="your OAuth client id")
    parser.add_argument("--tenant", default="common-tenant-id", help="Microsoft tenant id")
    args = parser.parse_args(argv)
    verifier = build_verifier(args.audience, args.tenant)
    try:
        claims = verifier.verify(args.token)
    except KeywellError as exc:
        print(f"refused: {exc.code}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(dict(claims), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
