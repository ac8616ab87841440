"""``keywell token``: decode (verifies nothing, says so) and sign."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keywell import JWK, jwt
from keywell.cli.params import parse_claim, parse_claims, parse_duration
from keywell.cli.token_cmds import NOT_VERIFIED
from tests.cli.conftest import run


@pytest.fixture
def key_file(tmp_path: Path) -> tuple[JWK, Path]:
    key = JWK.generate("ES256", kid="signer")
    path = tmp_path / "k.jwk"
    path.write_text(key.to_json(private=True))
    return key, path


def test_sign_sets_iat_exp_and_parses_claims(key_file: tuple[JWK, Path]) -> None:
    key, path = key_file
    before = int(time.time())
    args = ["token", "sign", "--key", str(path), "--ttl", "15m"]
    args += ["--claim", "sub=alice", "-c", "n=3", "-c", 'aud=["api","web"]', "-c", "admin=true"]
    args += ["-c", "iss=https://auth.example.com", "-c", 'quoted="3"', "-c", "eq=a=b"]
    result = run(args)
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    claims = jwt.decode(token, key.public(), issuer="https://auth.example.com", audience="api")
    assert claims["sub"] == "alice"
    assert claims["n"] == 3
    assert claims["aud"] == ["api", "web"]
    assert claims["admin"] is True
    assert claims["quoted"] == "3"
    assert claims["eq"] == "a=b"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 900


def test_sign_json_and_pem_key(tmp_path: Path) -> None:
    key = JWK.generate("RS256", kid="r")
    pem = tmp_path / "k.pem"
    pem.write_bytes(key.to_pem(private=True))
    result = run(["token", "sign", "--key", str(pem), "--alg", "PS256", "--ttl", "2h", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["header"]["alg"] == "PS256"
    assert out["claims"]["exp"] - out["claims"]["iat"] == 7200
    jwt.decode(out["token"], JWK.from_pem(key.to_pem()), issuer=None, audience=None)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--ttl", "15x"], "not a duration"),
        (["--ttl", "0s"], "longer than zero"),
        (["--claim", "novalue"], "not name=value"),
        (["--claim", "exp=5"], "use --ttl"),
        (["--alg", "RS256"], "cannot sign with RS256"),
    ],
)
def test_sign_usage_errors(key_file: tuple[JWK, Path], args: list[str], fragment: str) -> None:
    key, path = key_file
    result = run(["token", "sign", "--key", str(path), *args])
    assert result.exit_code == 2
    assert fragment in result.stderr
    assert key.to_dict(private=True)["d"] not in result.output


def test_sign_refuses_public_key(key_file: tuple[JWK, Path], tmp_path: Path) -> None:
    key, _ = key_file
    pub = tmp_path / "pub.jwk"
    pub.write_text(key.public().to_json())
    result = run(["token", "sign", "--key", str(pub), "--json"])
    assert result.exit_code == 2
    assert "public key" in json.loads(result.stdout)["error"]["message"]


def test_decode_says_nothing_was_verified(key_file: tuple[JWK, Path]) -> None:
    key, _ = key_file
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, key)
    result = run(["token", "decode", token])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == NOT_VERIFIED
    # header and payload as indented JSON, one member a line
    assert lines[1:3] == ["header", "{"]
    payload = lines[lines.index("payload") + 1 :]
    assert json.loads("\n".join(payload[: payload.index("}") + 1]))["sub"] == "alice"
    assert "exp: " in result.stdout
    assert "(in " in result.stdout
    assert "not checked" in result.stdout
    data = json.loads(run(["token", "decode", token, "--json"]).stdout)
    assert data["verified"] is False
    assert data["note"] == NOT_VERIFIED
    assert data["header"] == {"alg": "ES256", "typ": "JWT", "kid": "signer"}
    assert data["payload"]["sub"] == "alice"
    assert data["signature_bytes"] == 64


def test_decode_a_forged_token_still_only_decodes() -> None:
    # alg "none" and a garbage signature: decode shows it and still verifies nothing
    token = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.c2ln"
    data = json.loads(run(["token", "decode", f"Bearer {token}", "--json"]).stdout)
    assert (data["verified"], data["header"]["alg"], data["payload"]["sub"]) == (
        False,
        "none",
        "mallory",
    )


def test_decode_rfc7520_token_from_stdin(corpora: Path) -> None:
    vector = json.loads((corpora / "cookbook" / "jws" / "4_1.rsa_v15_signature.json").read_text())
    compact = vector["output"]["compact"]
    result = run(["token", "decode", "-", "--json"], stdin=compact + "\n")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["header"] == {"alg": "RS256", "kid": "bilbo.baggins@hobbiton.example"}
    assert data["payload"] == vector["input"]["payload"]  # not JSON: shown as text
    assert data["signature_bytes"] == 256


@pytest.mark.parametrize(
    ("token", "fragment"),
    [
        ("abc", "three dot-separated segments"),
        ("a.b.c.d.e", "encrypted JWE"),
        ("!!.e30.c2ln", "not base64url"),
        ("WzFd.e30.c2ln", "not a JSON object"),
    ],
)
def test_decode_malformed_exits_2(token: str, fragment: str) -> None:
    result = run(["token", "decode", token])
    assert result.exit_code == 2
    assert fragment in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("45", 45)],
)
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "1w", "-5m", "1.5h", "15 m", "0", "4000d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_parse_claim() -> None:
    assert parse_claim("a=1") == ("a", 1)
    assert parse_claim("a=null") == ("a", None)
    assert parse_claim('a={"b": [1]}') == ("a", {"b": [1]})
    assert parse_claim("a=") == ("a", "")
    assert parse_claim("a=hello world") == ("a", "hello world")
    with pytest.raises(ValueError, match="name=value"):
        parse_claim("=1")


@pytest.mark.parametrize(
    "claims",
    [
        ["aud=api", "aud=b"],
        ["aud=api", 'aud=["b"]'],
        ["sub=a", "sub=a"],  # even the same value
        ["x=1", "y=2", "x=3"],
        [" aud=api", "aud =b"],  # names are stripped: the same claim
        ["iss=https://a.example", "iss=https://a.example/"],
    ],
)
def test_a_claim_name_given_twice_is_a_usage_error(
    key_file: tuple[JWK, Path], claims: list[str]
) -> None:
    _, path = key_file
    args = ["token", "sign", "--key", str(path)]
    for c in claims:
        args += ["--claim", c]
    result = run(args)
    assert result.exit_code == 2
    assert "is given twice" in result.output
    assert result.stdout == ""  # no token


@given(st.lists(st.sampled_from(["a", "b", "aud", "sub"]), max_size=6))
def test_parse_claims_takes_each_name_once(names: list[str]) -> None:
    texts = [f"{n}={i}" for i, n in enumerate(names)]
    if len(set(names)) == len(names):
        assert parse_claims(texts) == {n: i for i, n in enumerate(names)}
    else:
        with pytest.raises(ValueError, match="given twice"):
            parse_claims(texts)
