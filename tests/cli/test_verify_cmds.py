"""``keywell token verify`` and ``keywell jwks fetch`` against a real loopback JWKS server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from keywell import JWK, jwt
from tests.cli.conftest import run
from tests.client.jwks_server import JWKSServer, jwks, token

ISS = "https://issuer.example"


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    srv = JWKSServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def key() -> JWK:
    return JWK.generate("ES256", kid="cli-key")


def test_verify_against_a_remote_jwks(server: JWKSServer, key: JWK) -> None:
    server.set(jwks=jwks(key), headers={"Cache-Control": "max-age=300"})
    good = token(key, sub="carol")
    args = ["token", "verify", good, "--jwks", server.url(), "--audience", "api"]
    result = run([*args, "--iss", ISS, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert (out["verified"], out["claims"]["sub"], out["header"]["kid"]) == (
        True,
        "carol",
        "cli-key",
    )
    assert out["issuer_checked"] is True
    plain = run([*args, "--alg", "ES256", "--no-issuer"])
    assert plain.exit_code == 0
    assert plain.stdout.startswith("VERIFIED: signature (kid cli-key, ES256)")
    assert "the issuer was not checked" in plain.stdout
    lines = plain.stdout.splitlines()
    # the claims as indented JSON, one member a line (not one line of "\\n" escapes)
    assert json.loads("\n".join(lines[lines.index("{") :]))["sub"] == "carol"
    wrong_iss = run([*args, "--iss", "https://other.example", "--json"])
    assert wrong_iss.exit_code == 1
    assert json.loads(wrong_iss.stdout)["error"]["code"] == "KW_CLAIM_INVALID"
    wrong_alg = run([*args, "--alg", "RS256", "--no-issuer", "--json"])
    assert (wrong_alg.exit_code, json.loads(wrong_alg.stdout)["error"]["code"]) == (
        1,
        "KW_ALG_DISALLOWED",
    )
    assert server.hits() == 3  # one fetch per command; none when the alg is refused first


def test_verify_failures_exit_1_with_the_typed_code(server: JWKSServer, key: JWK) -> None:
    server.set(jwks=jwks(key))
    other = JWK.generate("ES256", kid="cli-key")
    base = ["token", "verify", "--jwks", server.url(), "--audience", "api", "--no-issuer", "--json"]
    forged = run([*base[:2], token(other), *base[2:]])
    assert (forged.exit_code, json.loads(forged.stdout)["error"]["code"]) == (
        1,
        "KW_INVALID_SIGNATURE",
    )
    expired = token(key, exp=int(time.time()) - 20)
    late = run([*base[:2], expired, *base[2:]])
    assert (late.exit_code, json.loads(late.stdout)["error"]["code"]) == (1, "KW_TOKEN_EXPIRED")
    lenient = run([*base[:2], expired, *base[2:], "--leeway", "1m"])
    assert lenient.exit_code == 0
    other_aud = run([*base[:2], token(key, aud="web"), *base[2:]])
    assert json.loads(other_aud.stdout)["error"]["code"] == "KW_CLAIM_INVALID"
    garbage = run([*base[:2], "not.a.jwt", *base[2:]])
    assert (garbage.exit_code, json.loads(garbage.stdout)["error"]["code"]) == (
        1,
        "KW_TOKEN_MALFORMED",
    )
    server.set(status=500, body=b"oops")
    down = run([*base[:2], token(key), *base[2:]])
    assert (down.exit_code, json.loads(down.stdout)["error"]["code"]) == (1, "KW_JWKS_FETCH")
    human = run(
        ["token", "verify", token(key), "--jwks", server.url(), "--aud", "api", "--no-issuer"]
    )
    assert human.exit_code == 1
    assert human.stderr.startswith("error: ")


def test_verify_by_discovery(server: JWKSServer, key: JWK) -> None:
    issuer = server.url("")
    server.set(jwks=jwks(key))
    meta = {"issuer": issuer, "jwks_uri": server.url()}
    server.set("/.well-known/openid-configuration", jwks=meta)
    args = ["token", "verify", token(key, iss=issuer), "--issuer", issuer, "--aud", "api"]
    result = run([*args, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["claims"]["iss"] == issuer
    other = run(["token", "verify", token(key), "--issuer", issuer, "--aud", "api", "--json"])
    assert json.loads(other.stdout)["error"]["code"] == "KW_CLAIM_INVALID"  # iss differs
    server.set("/.well-known/openid-configuration", jwks={**meta, "issuer": "https://evil"})
    refused = run([*args, "--json"])
    assert (refused.exit_code, json.loads(refused.stdout)["error"]["code"]) == (1, "KW_DISCOVERY")


def test_verify_against_files(tmp_path: Path, key: JWK) -> None:
    set_file = tmp_path / "jwks.json"
    set_file.write_text(json.dumps(jwks(key)))
    pem_file = tmp_path / "key.pem"
    pem_file.write_bytes(key.to_pem())
    good = token(key)
    for source in (set_file, pem_file):
        result = run(
            [
                "token",
                "verify",
                "-",
                "--jwks",
                str(source),
                "--aud",
                "api",
                "--no-issuer",
                "--json",
            ],
            stdin=good,
        )
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["claims"]["sub"] == "alice"
    leaked = tmp_path / "leaked.json"
    leaked.write_text(json.dumps({"keys": [key.to_dict(private=True)]}))
    bad_file = run(
        ["token", "verify", good, "--jwks", str(leaked), "--aud", "api", "--no-issuer", "--json"]
    )
    assert (bad_file.exit_code, json.loads(bad_file.stdout)["error"]["code"]) == (2, "KW_JWKS")
    missing = run(
        ["token", "verify", good, "--jwks", "/nonexistent.json", "--aud", "api", "--no-issuer"]
    )
    assert missing.exit_code == 2
    both = run(["token", "verify", good, "--jwks", str(set_file), "--issuer", ISS, "--aud", "x"])
    assert both.exit_code == 2
    neither = run(["token", "verify", good, "--aud", "x", "--no-issuer"])
    assert neither.exit_code == 2
    assert run(["token", "verify", good, "--jwks", str(set_file), "--no-issuer"]).exit_code == 2


@pytest.mark.parametrize(
    ("flags", "code", "message"),
    [
        (["--aud", "api", "--iss", ISS], 0, None),
        (["--no-audience", "--iss", ISS], 0, None),
        (["--aud", "api", "--no-issuer"], 0, None),
        (["--no-audience", "--no-issuer"], 0, None),
        (["--iss", ISS], 2, "give --audience, or --no-audience to skip that check explicitly"),
        (["--aud", "api"], 2, "give --iss or --issuer, or --no-issuer to skip that check"),
        ([], 2, "give --audience, or --no-audience"),
        (["--aud", "api", "--no-audience", "--iss", ISS], 2, "not both"),
        (["--aud", "api", "--iss", ISS, "--no-issuer"], 2, "not both"),
    ],
)
def test_each_claim_check_is_given_or_switched_off_by_name(
    tmp_path: Path, key: JWK, flags: list[str], code: int, message: str | None
) -> None:
    set_file = tmp_path / "jwks.json"
    set_file.write_text(json.dumps(jwks(key)))
    no_aud = token(key, aud="web") if "--no-audience" in flags else token(key)  # "web" != "api"
    result = run(["token", "verify", no_aud, "--jwks", str(set_file), *flags, "--json"])
    assert result.exit_code == code, result.output
    out = json.loads(result.stdout)
    if message is None:
        assert out["audience_checked"] is ("--no-audience" not in flags)
        assert out["issuer_checked"] is ("--no-issuer" not in flags)
    else:
        assert message in out["error"]["message"]


def test_jwks_fetch_shows_keys_and_caching_headers(server: JWKSServer, key: JWK) -> None:
    enc = JWK.generate("RS256", kid="enc-key").to_dict()
    enc["use"] = "enc"
    del enc["alg"]
    doc = {"keys": [key.to_dict(), enc, {"kty": "OKP", "crv": "X448", "x": "AAAA", "kid": "odd"}]}
    server.set(jwks=doc, headers={"Cache-Control": "public, max-age=900"}, etag='"v1"')
    result = run(["jwks", "fetch", server.url(), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["url"] == server.url()
    assert [(k["kid"], k["use"], k["usable"]) for k in out["keys"]] == [
        ("cli-key", "sig", True),
        ("enc-key", "enc", False),
    ]
    assert [s["kid"] for s in out["skipped"]] == ["odd"]
    assert out["headers"]["cache_control"] == "public, max-age=900"
    assert out["headers"]["etag"] == '"v1"'
    assert out["ttl"] == 900
    plain = run(["jwks", "fetch", server.url()])
    assert plain.exit_code == 0
    assert "kid=cli-key  kty=EC  alg=ES256  use=sig\n" in plain.stdout
    assert "kid=enc-key  kty=RSA  alg=-  use=enc  (not usable for verification)" in plain.stdout
    assert "skipped key 2 (odd): OKP public key must be exactly 56 octets" in plain.stdout
    assert "  cache-control: public, max-age=900" in plain.stdout
    assert "keywell would cache this set for 15m" in plain.stdout


def test_jwks_fetch_failures(server: JWKSServer) -> None:
    server.set(status=404, body=b"{}")
    missing = run(["jwks", "fetch", server.url(), "--json"])
    assert (missing.exit_code, json.loads(missing.stdout)["error"]["code"]) == (1, "KW_JWKS_FETCH")
    insecure = run(["jwks", "fetch", "http://example.com/jwks.json", "--json"])
    assert insecure.exit_code == 2
    assert "plain http" in json.loads(insecure.stdout)["error"]["message"]


def test_verify_as_a_real_process(server: JWKSServer, key: JWK) -> None:
    server.set(jwks=jwks(key))
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["PYTHONWARNINGS"] = "error"
    script = str(Path(sys.executable).with_name("keywell"))
    good = jwt.encode({"aud": "api", "sub": "dave", "exp": int(time.time()) + 60}, key)
    ok = subprocess.run(
        [
            script,
            "token",
            "verify",
            good,
            "--jwks",
            server.url(),
            "--aud",
            "api",
            "--no-issuer",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["claims"]["sub"] == "dave"
    bad = subprocess.run(
        [script, "token", "verify", good, "--jwks", server.url(), "--aud", "web", "--no-issuer"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("error: ")
