"""``keywell jwk``: generate, convert, thumbprint, public."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from keywell import JWK
from tests.cli.conftest import run

RFC7638_THUMBPRINT = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS384", "EdDSA", "ES512"])
def test_generate_writes_private_0600_and_public(tmp_path: Path, alg: str) -> None:
    priv, pub = tmp_path / "k.jwk", tmp_path / "k.pub.jwk"
    result = run(
        [
            "jwk",
            "generate",
            "--alg",
            alg,
            "--kid",
            "s1",
            "--out",
            str(priv),
            "--public-out",
            str(pub),
        ]
    )
    assert result.exit_code == 0, result.output
    assert _mode(priv) == 0o600
    key = JWK.from_json(priv.read_text())
    assert (key.is_private, key.alg, key.kid) == (True, alg, "s1")
    public = json.loads(pub.read_text())
    assert "d" not in public
    assert JWK.from_dict(public) == key.public()
    assert "kid s1" in result.stdout
    # no private material on the terminal
    assert key.to_dict(private=True)["d"] not in result.output


def test_generate_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0)
    try:
        result = run(["jwk", "generate", "--alg", "ES256", "--out", str(tmp_path / "k.jwk")])
    finally:
        os.umask(old)
    assert result.exit_code == 0
    assert _mode(tmp_path / "k.jwk") == 0o600


def test_generate_json_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "k.jwk"
    result = run(["jwk", "generate", "--alg", "ES256", "--out", str(out), "--json"])
    assert result.exit_code == 0
    info = json.loads(result.stdout)
    assert info["alg"] == "ES256"
    assert info["private"] is True
    assert info["thumbprint"] == JWK.from_json(out.read_text()).thumbprint()
    assert "jwk" not in info
    before = out.read_bytes()
    again = run(["jwk", "generate", "--alg", "ES256", "--out", str(out), "--json"])
    assert again.exit_code == 2
    assert json.loads(again.stdout)["error"]["code"] == "exists"
    assert out.read_bytes() == before
    forced = run(["jwk", "generate", "--alg", "ES256", "--out", str(out), "--force"])
    assert forced.exit_code == 0
    assert out.read_bytes() != before
    assert _mode(out) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.jwk"]  # no temp files left


def test_generate_to_stdout_only_when_asked() -> None:
    result = run(["jwk", "generate", "--alg", "ES256", "--out", "-"])
    assert result.exit_code == 0
    key = JWK.from_json(result.stdout)
    assert key.is_private
    assert "generated" in result.stderr
    missing = run(["jwk", "generate", "--alg", "ES256"])
    assert missing.exit_code == 2
    assert "--out" in missing.output


def test_generate_usage_errors(tmp_path: Path) -> None:
    bad = run(["jwk", "generate", "--alg", "none", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2
    assert "unsupported algorithm" in bad.stderr
    assert not (tmp_path / "x").exists()
    hs = run(
        [
            "jwk",
            "generate",
            "--alg",
            "HS256",
            "--out",
            str(tmp_path / "h"),
            "--public-out",
            str(tmp_path / "p"),
        ]
    )
    assert hs.exit_code == 2
    assert "no public form" in hs.stderr
    assert not (tmp_path / "h").exists()


def test_convert_pem_and_back(tmp_path: Path) -> None:
    key = JWK.generate("ES384", kid="c1")
    (tmp_path / "k.jwk").write_text(key.to_json(private=True))
    pem_out = tmp_path / "k.pem"
    result = run(["jwk", "convert", str(tmp_path / "k.jwk"), "--private", "--out", str(pem_out)])
    assert result.exit_code == 0, result.output
    assert _mode(pem_out) == 0o600
    assert pem_out.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # PEM private -> public JWK on stdout (the default direction and form)
    public = run(["jwk", "convert", str(pem_out), "--kid", "c1", "--alg", "ES384"])
    assert public.exit_code == 0
    converted = JWK.from_json(public.stdout)
    assert (converted.thumbprint(), converted.kid, converted.alg) == (
        key.thumbprint(),
        "c1",
        "ES384",
    )
    assert not converted.is_private
    # JWK -> public PEM
    spki = run(["jwk", "convert", str(tmp_path / "k.jwk")])
    assert spki.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    assert JWK.from_pem(spki.stdout).thumbprint() == key.thumbprint()
    as_json = json.loads(run(["jwk", "convert", str(pem_out), "--json"]).stdout)
    assert as_json["format"] == "jwk"
    assert "d" not in as_json["data"]


def test_convert_private_needs_out(tmp_path: Path) -> None:
    key = JWK.generate("ES256")
    (tmp_path / "k.jwk").write_text(key.to_json(private=True))
    result = run(["jwk", "convert", str(tmp_path / "k.jwk"), "--private"])
    assert result.exit_code == 2
    assert "--out" in result.stderr
    assert key.to_dict(private=True)["d"] not in result.output


def test_thumbprint_matches_rfc7638() -> None:
    # RFC 7638 section 3.1 example key and thumbprint
    key = {
        "kty": "RSA",
        "n": (
            "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1"
            "L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4"
            "QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbO"
            "pbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csF"
            "Cur-kEgU8awapJzKnqDKgw"
        ),
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".jwk", delete=False) as fh:
        json.dump(key, fh)
    result = run(["jwk", "thumbprint", fh.name])
    assert result.stdout.strip() == RFC7638_THUMBPRINT
    uri = run(["jwk", "thumbprint", fh.name, "--uri"]).stdout.strip()
    assert uri == "urn:ietf:params:oauth:jwk-thumbprint:sha-256:" + RFC7638_THUMBPRINT
    info = json.loads(run(["jwk", "thumbprint", fh.name, "--hash", "sha512", "--json"]).stdout)
    assert info["hash"] == "sha512"
    assert info["thumbprint"] == JWK.from_dict(key).thumbprint("sha512")
    assert run(["jwk", "thumbprint", fh.name, "--hash", "md5"]).exit_code == 2
    Path(fh.name).unlink()


def test_public_strips_private_members(corpora: Path, tmp_path: Path) -> None:
    source = corpora / "cookbook" / "jwk" / "3_4.rsa_private_key.json"
    private = json.loads(source.read_text())
    result = run(["jwk", "public", str(source)])
    assert result.exit_code == 0
    public = json.loads(result.stdout)
    assert set(public) == {"kty", "kid", "use", "n", "e"}
    assert public["n"] == private["n"]
    for secret in ("d", "p", "q", "dp", "dq", "qi"):
        assert private[secret] not in result.output
    out = tmp_path / "pub.jwk"
    assert run(["jwk", "public", str(source), "--out", str(out)]).exit_code == 0
    assert _mode(out) == 0o644
    info = json.loads(run(["jwk", "public", str(source), "--json"]).stdout)
    assert (info["private"], info["jwk"]) == (False, public)
    from_stdin = run(["jwk", "public", "-"], stdin=source.read_text())
    assert json.loads(from_stdin.stdout) == public


def test_public_of_symmetric_key_is_refused(corpora: Path) -> None:
    source = corpora / "cookbook" / "jwk" / "3_5.symmetric_key_mac_computation.json"
    result = run(["jwk", "public", str(source), "--json"])
    assert result.exit_code == 2
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "KW_INVALID_KEY"
    assert json.loads(source.read_text())["k"] not in result.output


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "not a PEM key"),
        (b'{"keys": [{"kty":"EC"}, {"kty":"EC"}]}', "more than one key"),
    ],
)
def test_unreadable_keys_exit_2(tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad"
    path.write_bytes(content)
    result = run(["jwk", "thumbprint", str(path)])
    assert result.exit_code == 2
    assert fragment in result.stderr
    missing = run(["jwk", "thumbprint", str(tmp_path / "absent")])
    assert missing.exit_code == 2
    assert "No such file" in missing.stderr
