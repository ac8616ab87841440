"""Transit's answers read without I/O, the token's sources, and the http/https rule.

Every malformed ``/sign`` or ``keys/NAME`` answer is a ValueError (table and
hypothesis); every bad token source or content is a CustodyError that never
shows the token; plain http only to a loopback host without ``ca-file``.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import hvac.exceptions
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given
from hypothesis import strategies as st

from keywell.custody import parse_custody
from keywell.custody import transit_wire as wire
from keywell.custody.transit import TransitCustody
from keywell.errors import CustodyError
from keywell.jose import b64url_encode
from tests.custody.backend_transit import write_secret

P256 = ec.generate_private_key(ec.SECP256R1()).public_key()
P384 = ec.generate_private_key(ec.SECP384R1()).public_key()
RSA2048 = rsa.generate_private_key(65537, 2048).public_key()
ED = ed25519.Ed25519PrivateKey.generate().public_key()


def pem(key: Any) -> str:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def described(kind: str, public: str, exportable: object = False) -> dict[str, Any]:
    return {"type": kind, "exportable": exportable, "keys": {"1": {"public_key": public}}}


def signed(text: object) -> dict[str, Any]:
    return {"data": {"signature": text}}


ED_RAW = base64.b64encode(ED.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()

GOOD_KEYS = [
    ("ecdsa-p256", pem(P256)),
    ("ecdsa-p384", pem(P384)),
    ("rsa-2048", pem(RSA2048)),
    ("ed25519", ED_RAW),
]


@pytest.mark.parametrize(("kind", "public"), GOOD_KEYS)
def test_public_key_read(kind: str, public: str) -> None:
    key = wire.public_key(described(kind, public), kind)
    assert key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


BAD_KEYS = [
    ("not an object", None, "ecdsa-p256"),
    ("another type", described("ecdsa-p384", pem(P384)), "ecdsa-p256"),
    ("curve differs from the type", described("ecdsa-p256", pem(P384)), "ecdsa-p256"),
    ("RSA size differs", described("rsa-3072", pem(RSA2048)), "rsa-3072"),
    ("exportable", described("ecdsa-p256", pem(P256), True), "ecdsa-p256"),
    (
        "exportable missing",
        {"type": "ecdsa-p256", "keys": {"1": {"public_key": pem(P256)}}},
        "ecdsa-p256",
    ),
    ("no version 1", {"type": "ed25519", "exportable": False, "keys": {"2": {}}}, "ed25519"),
    ("keys not an object", {"type": "ed25519", "exportable": False, "keys": []}, "ed25519"),
    ("PEM for ed25519", described("ed25519", pem(P256)), "ed25519"),
    ("short ed25519", described("ed25519", base64.b64encode(b"x" * 31).decode()), "ed25519"),
    ("bad base64", described("ed25519", "!!!"), "ed25519"),
    ("not PEM", described("rsa-2048", "MIIB"), "rsa-2048"),
    ("non-ASCII PEM", described("rsa-2048", "é"), "rsa-2048"),
    ("public key not a string", described("rsa-2048", 5), "rsa-2048"),  # type: ignore[arg-type]
    ("EC key for RSA", described("rsa-2048", pem(P256)), "rsa-2048"),
]


@pytest.mark.parametrize(("case", "data", "kind"), BAD_KEYS, ids=[c[0] for c in BAD_KEYS])
def test_public_key_refused(case: str, data: object, kind: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - every shape error is one ValueError
        wire.public_key(data, kind)


GOOD_SIGS = [
    ("ES256", "vault:v1:" + b64url_encode(b"\x01" * 64)),
    ("ES384", "vault:v1:" + b64url_encode(b"\x01" * 96)),
    ("ES512", "vault:v1:" + b64url_encode(b"\x01" * 132)),
    ("EdDSA", "vault:v1:" + base64.b64encode(b"\x01" * 64).decode()),
    ("RS256", "vault:v1:" + base64.b64encode(b"\x01" * 256).decode()),
    ("PS256", "vault:v1:" + base64.b64encode(b"\x01" * 512).decode()),
]


@pytest.mark.parametrize(("alg", "text"), GOOD_SIGS)
def test_signature_read(alg: str, text: str) -> None:
    assert set(wire.signature(signed(text), alg)) == {1}


BAD_SIGS = [
    ("no data", {}, "ES256"),
    ("not an object", None, "ES256"),
    ("list", [], "ES256"),
    ("signature not text", signed(5), "ES256"),
    ("no prefix", signed(b64url_encode(b"\x01" * 64)), "ES256"),
    ("version 2", signed("vault:v2:" + b64url_encode(b"\x01" * 64)), "ES256"),
    (
        "ASN.1 DER, not jws",
        signed("vault:v1:" + base64.b64encode(b"0D" + b"\x01" * 68).decode()),
        "ES256",
    ),
    ("padded base64url", signed("vault:v1:" + b64url_encode(b"\x01" * 64) + "=="), "ES256"),
    ("std alphabet for ECDSA", signed("vault:v1:" + "+/" * 43), "ES256"),
    ("P-256 length for ES384", signed("vault:v1:" + b64url_encode(b"\x01" * 64)), "ES384"),
    ("ES512 short", signed("vault:v1:" + b64url_encode(b"\x01" * 130)), "ES512"),
    ("EdDSA short", signed("vault:v1:" + base64.b64encode(b"\x01" * 63).decode()), "EdDSA"),
    ("RSA 1024", signed("vault:v1:" + base64.b64encode(b"\x01" * 128).decode()), "RS256"),
    ("RSA odd size", signed("vault:v1:" + base64.b64encode(b"\x01" * 255).decode()), "PS256"),
    ("RSA base64url", signed("vault:v1:" + b64url_encode(b"\xfb" * 256)), "RS256"),
    ("whitespace", signed("vault:v1: " + base64.b64encode(b"\x01" * 64).decode()), "EdDSA"),
    ("empty", signed("vault:v1:"), "EdDSA"),
]


@pytest.mark.parametrize(("case", "answer", "alg"), BAD_SIGS, ids=[c[0] for c in BAD_SIGS])
def test_signature_refused(case: str, answer: object, alg: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        wire.signature(answer, alg)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
ANSWERS = JSON | st.builds(
    lambda t: {"data": {"signature": "vault:v1:" + t}}, st.text(max_size=200)
)
ALGS = st.sampled_from(sorted(wire.ALGORITHMS))


@given(answer=ANSWERS, alg=ALGS)
def test_any_sign_answer_is_a_signature_or_value_error(answer: object, alg: str) -> None:
    try:
        sig = wire.signature(answer, alg)
    except ValueError:
        return
    assert isinstance(sig, bytes)


@given(data=JSON, kind=st.sampled_from(["ecdsa-p256", "rsa-2048", "ed25519"]))
def test_any_key_description_is_a_key_or_value_error(data: object, kind: str) -> None:
    try:
        wire.public_key(data, kind)
    except ValueError:
        return
    raise AssertionError("a random description was taken for a key")


@pytest.mark.parametrize(
    ("exc", "said"),
    [
        (hvac.exceptions.InvalidRequest(errors=["bad"]), "400 (bad request): bad"),
        (
            hvac.exceptions.Forbidden(errors=["permission denied"]),
            "403 (forbidden): permission denied",
        ),
        (hvac.exceptions.InvalidPath(), "404 (not found)"),
        (hvac.exceptions.RateLimitExceeded(errors=["slow"]), "429 (rate limited): slow"),
        (
            hvac.exceptions.InternalServerError(errors=["x" * 500]),
            "500 (internal error): " + "x" * 300,
        ),
        (hvac.exceptions.VaultDown(errors=["sealed"]), "503 (sealed or in standby): sealed"),
        (hvac.exceptions.UnexpectedError(errors=["teapot"]), "UnexpectedError: teapot"),
        (requests.ReadTimeout("secret-ish"), "did not answer within 2 s"),
        (requests.ConnectTimeout("secret-ish"), "did not answer within 2 s"),
        (requests.exceptions.SSLError("secret-ish"), "TLS with http://h:1 failed"),
        (requests.ConnectionError("secret-ish"), "cannot reach http://h:1"),
        (requests.exceptions.InvalidHeader("secret-ish"), "unexpected InvalidHeader"),
        (RuntimeError("secret-ish"), "unexpected RuntimeError"),
    ],
)
def test_describe_writes_its_own_message(exc: BaseException, said: str) -> None:
    text = wire.describe(exc, "http://h:1", 2.0)
    assert said in text
    assert len(text) < 400  # Vault's own words are cut at 300 characters
    assert "secret-ish" not in text


# -- the token: where it comes from and what it may be -----------------------

BAD_TOKENS = [
    ("empty", ""),
    ("newline only", "\n"),
    ("space inside", "hvs.abc def"),
    ("leading space", " hvs.abc"),
    ("tab", "hvs.abc\tdef"),
    ("newline inside", "hvs.abc\ndef"),
    ("carriage return inside", "hvs.abc\rdef"),
    ("NUL", "hvs.abc\x00def"),
    ("DEL", "hvs.abc\x7fdef"),
    ("non-ASCII", "hvs.abcédef"),
    ("too long", "h" * 4097),
    ("over 64 KiB", "h" * (64 * 1024 + 1)),
]


def uri_for(path: Path, extra: str = "") -> str:
    return f"transit://127.0.0.1:8200/transit?token-file={path}{extra}"


@pytest.mark.parametrize(("case", "token"), BAD_TOKENS, ids=[c[0] for c in BAD_TOKENS])
def test_bad_token_refused_without_showing_it(tmp_path: Path, case: str, token: str) -> None:
    path = write_secret(tmp_path / "token", token)
    with pytest.raises(CustodyError) as caught:
        TransitCustody.from_spec(parse_custody(uri_for(path)))
    assert (caught.value.backend, caught.value.operation) == ("transit", "open")
    if token.strip():
        assert token.strip() not in str(caught.value)
        assert "hvs.abc" not in str(caught.value)


@given(token=st.text(min_size=1, max_size=60))
def test_any_token_opens_or_is_refused_unseen(token: str) -> None:
    name = "KEYWELL_TEST_TRANSIT_TOKEN"
    os.environ[name] = "tok-" + token.replace("\x00", "")  # "tok-" appears nowhere else
    try:
        uri = f"transit://127.0.0.1:8200/transit?token-env={name}"
        try:
            custody = TransitCustody.from_spec(parse_custody(uri))
        except CustodyError as exc:
            refused: CustodyError | None = exc
        else:
            refused = None
            assert os.environ[name].rstrip("\r\n") not in repr(custody) + custody.uri
        if refused is not None:
            assert refused.operation == "open"
            assert os.environ[name].strip() not in str(refused)
    finally:
        del os.environ[name]


def test_token_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_secret(tmp_path / "token", "hvs.file-token\n")  # the trailing newline is dropped
    assert TransitCustody.from_spec(parse_custody(uri_for(path))).check_algorithm("ES256") is None
    monkeypatch.setenv("KEYWELL_TEST_TOKEN", "hvs.env-token")
    env_uri = "transit://127.0.0.1:8200/transit?token-env=KEYWELL_TEST_TOKEN"
    assert TransitCustody.from_spec(parse_custody(env_uri)).mount == "transit"
    refused = [
        "transit://127.0.0.1:8200/transit",  # no source
        uri_for(path, "&token-env=KEYWELL_TEST_TOKEN"),  # two sources
        uri_for(tmp_path / "missing"),
        "transit://127.0.0.1:8200/transit?token-env=KEYWELL_TEST_UNSET_VARIABLE",
    ]
    for uri in refused:
        with pytest.raises(CustodyError) as caught:
            TransitCustody.from_spec(parse_custody(uri))
        assert caught.value.operation == "open"


@pytest.mark.parametrize(
    ("authority", "query", "url"),
    [
        ("127.0.0.1:8200", "", "http://127.0.0.1:8200"),
        ("127.9.9.9:1", "", "http://127.9.9.9:1"),
        ("localhost:8200", "", "http://localhost:8200"),
        ("[::1]:8200", "", "http://[::1]:8200"),
        ("127.0.0.1:8200", "&ca-file=CA", "https://127.0.0.1:8200"),
        ("vault.example:8200", "", "https://vault.example:8200"),
        ("10.0.0.5:8200", "", "https://10.0.0.5:8200"),
        ("localhost.example:8200", "", "https://localhost.example:8200"),
        ("vault.example", "", "https://vault.example:8200"),
    ],
)
def test_plain_http_only_to_loopback(tmp_path: Path, authority: str, query: str, url: str) -> None:
    path = write_secret(tmp_path / "token", "hvs.x")
    (tmp_path / "ca.pem").write_text("a CA bundle")  # read by requests only when connecting
    query = query.replace("CA", str(tmp_path / "ca.pem"))
    spec = parse_custody(f"transit://{authority}/transit?token-file={path}{query}")
    assert TransitCustody.from_spec(spec).url == url


def test_error_messages_are_scrubbed_of_the_token(tmp_path: Path) -> None:
    # A Vault answer quoting the token cannot be caused on a real server (Vault
    # never echoes it); the scrub is checked on a raised refusal that does.
    token = "hvs.TOKEN-QUOTED-BY-A-PROXY"
    custody = TransitCustody.from_spec(parse_custody(uri_for(write_secret(tmp_path / "t", token))))

    def refuse(_: Any) -> None:
        raise hvac.exceptions.InvalidRequest(errors=[f"header X-Vault-Token: {token} refused"])

    with pytest.raises(CustodyError) as caught:
        custody._call("sign", refuse)
    assert token not in str(caught.value)
    assert "[token]" in str(caught.value)
