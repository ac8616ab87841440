"""Custody URIs (``keywell.custody.uri``) and the backend-independent helpers of ``base.py``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from keywell.custody import DB, open_custody, parse_custody
from keywell.custody.base import (
    ec_curve_of,
    ecdsa_der_to_jose,
    key_name,
    key_name_time,
    public_jwk,
)
from keywell.custody.uri import read_credential
from keywell.errors import CustodyError, InvalidInputError

PKCS11 = "pkcs11:token=t;object-prefix=p-?module-path=/usr/lib/x.so&pin-source=file:/run/pin"
TRANSIT = "transit://127.0.0.1:8200/transit?token-file=/run/vault-token"
AWSKMS = "awskms:region=eu-west-1?endpoint=http://127.0.0.1:5000"

MALFORMED = {
    # not a short printable string
    "empty": "",
    "too long": "pkcs11:token=" + "a" * 2000,
    "newline": "db\n",
    "nul": PKCS11.replace("t;", "t\x00;"),
    "tab": "pkcs11:token=a\tb?module-path=/m&pin-source=file:/p",
    # scheme
    "no scheme": "token=a",
    "unknown scheme": "file:/etc/keys",
    "http": "http://127.0.0.1/keys",
    "upper-case db": "DB",
    "upper-case scheme": PKCS11.replace("pkcs11", "PKCS11"),
    "bare scheme": "pkcs11",
    "bare scheme with colon": "pkcs11:",
    # attribute syntax
    "attribute without value": PKCS11.replace("token=t", "token"),
    "attribute without name": PKCS11.replace("token=t", "=t"),
    "query without value": PKCS11 + "&timeout",
    "empty attribute": PKCS11.replace("token=t;", "token=t;;"),
    "attribute twice": PKCS11.replace("token=t;", "token=t;token=u;"),
    "query twice": PKCS11 + "&module-path=/other.so",
    "percent not utf-8": PKCS11.replace("token=t", "token=%ff"),
    # attributes not known to the scheme
    "unknown path attribute": PKCS11.replace("token=t;", "token=t;colour=red;"),
    "unknown query attribute": PKCS11 + "&colour=red",
    "path attribute in query": PKCS11 + "&token=t",
    "query attribute in path": PKCS11.replace("token=t;", "token=t;pin-source=file:/p;"),
    "awskms unknown": AWSKMS + "&colour=red",
    "transit unknown": TRANSIT + "&colour=red",
    # required attributes
    "pkcs11 without token": PKCS11.replace("token=t;", ""),
    "pkcs11 without module": PKCS11.replace("module-path=/usr/lib/x.so&", ""),
    "pkcs11 without pin source": PKCS11.replace("&pin-source=file:/run/pin", ""),
    "awskms without region": "awskms:?endpoint=http://127.0.0.1:5000",
    # timeout
    "timeout zero": PKCS11 + "&timeout=0",
    "timeout negative": PKCS11 + "&timeout=-1",
    "timeout too long": PKCS11 + "&timeout=301",
    "timeout text": PKCS11 + "&timeout=soon",
    "timeout nan": PKCS11 + "&timeout=nan",
    "timeout inf": PKCS11 + "&timeout=inf",
    "timeout empty": PKCS11 + "&timeout=",
    # transit authority
    "transit without slashes": "transit:127.0.0.1:8200/transit",
    "transit without mount": "transit://127.0.0.1:8200",
    "transit empty mount": "transit://127.0.0.1:8200/",
    "transit port zero": "transit://127.0.0.1:0/transit",
    "transit port too big": "transit://127.0.0.1:65536/transit",
    "transit port text": "transit://127.0.0.1:http/transit",
    "transit without host": "transit://:8200/transit",
    # a transit host is a DNS name, an IPv4 or a bracketed IPv6 literal: nothing a URL
    # parser would read as another host, a path or a fragment
    "transit host and userinfo": "transit://127.0.0.1:8200@evil.example:8200/transit",
    "transit host with fragment": "transit://evil.example#:8200/transit",
    "transit host with query": "transit://evil.example?:8200/transit",
    "transit host percent-encoded": "transit://127.0.0.1%2F:8200/transit",
    "transit host with backslash": "transit://evil.example\\@127.0.0.1:8200/transit",
    "transit host with space": "transit://evil example:8200/transit",
    "transit host unbracketed ipv6": "transit://::1:8200/transit",
    "transit host bracket junk": "transit://[evil.example]:8200/transit",
    "transit host label dash": "transit://-evil.example:8200/transit",
    # a mount is path segments: never a query, a fragment or a way up
    "transit mount with query": "transit://127.0.0.1:8200/tr%3Fansit",
    "transit mount with fragment": "transit://127.0.0.1:8200/tr%23ansit",
    "transit mount going up": "transit://127.0.0.1:8200/transit/../sys",
    "transit mount dot segment": "transit://127.0.0.1:8200/./transit",
    "transit mount encoded dots": "transit://127.0.0.1:8200/%2E%2E/sys",
    "transit mount empty segment": "transit://127.0.0.1:8200/a//b",
    "transit mount with space": "transit://127.0.0.1:8200/tran%20sit",
}

#: URIs carrying a credential as URL userinfo (the secret: never echoed, never stored).
USERINFO = {
    "transit user:password": ("transit://u:s3cr3t-pw@127.0.0.1:8200/transit", "s3cr3t-pw"),
    "transit token as user": (
        "transit://hvs.S3cr3tT0ken@127.0.0.1:8200/transit",
        "hvs.S3cr3tT0ken",
    ),
    "awskms endpoint userinfo": (
        "awskms:region=eu-west-1?endpoint=https://AKIAX:s3cr3t-key@kms.example",
        "s3cr3t-key",
    ),
    "awskms endpoint encoded userinfo": (
        "awskms:region=eu-west-1?endpoint=https%3A%2F%2FAKIAX%3As3cr3t-key%40kms.example",
        "s3cr3t-key",
    ),
    "awskms endpoint user only": (
        "awskms:region=eu-west-1?endpoint=http://s3cr3t-user@127.0.0.1:5000",
        "s3cr3t-user",
    ),
}


@pytest.mark.parametrize(("uri", "secret"), USERINFO.values(), ids=USERINFO.keys())
def test_userinfo_credentials_are_refused_without_echo(uri: str, secret: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_custody(uri)
    assert caught.value.field == "custody"
    assert secret not in str(caught.value)


INLINE_CREDENTIALS = {
    "pkcs11 pin-value (RFC 7512)": PKCS11 + "&pin-value=1234",
    "pkcs11 pin-value in path": PKCS11.replace("token=t;", "token=t;pin-value=1234;"),
    "pkcs11 pin": PKCS11 + "&pin=1234",
    "pkcs11 so pin-value": PKCS11 + "&so-pin-value=1234",
    "transit token": TRANSIT + "&token=hvs.secret",
    "transit secret": TRANSIT + "&secret=s3cr3t-value",
    "awskms access key": AWSKMS + "&access-key=AKIA",
    "awskms secret key": AWSKMS + "&secret-key=x",
    "awskms password": AWSKMS + "&password=x",
    "awskms secret in path": AWSKMS.replace("region=eu-west-1", "region=eu-west-1;secret-key=x"),
}


@pytest.mark.parametrize("uri", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_custody(uri)
    assert caught.value.field == "custody"
    assert str(caught.value).startswith("custody URI: ")


@pytest.mark.parametrize("value", [None, 1, b"db", ["db"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(InvalidInputError):
        parse_custody(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("uri", INLINE_CREDENTIALS.values(), ids=INLINE_CREDENTIALS.keys())
def test_inline_credentials_are_refused_without_echo(uri: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_custody(uri)
    assert "credential" in str(caught.value)
    secret = uri.rsplit("=", 1)[1].rstrip(";")
    assert secret not in str(caught.value)


@pytest.mark.parametrize(
    ("uri", "scheme", "attrs", "query", "timeout"),
    [
        ("db", "db", {}, {}, 5.0),
        (
            PKCS11,
            "pkcs11",
            {"token": "t", "object-prefix": "p-"},
            {"module-path": "/usr/lib/x.so", "pin-source": "file:/run/pin"},
            5.0,
        ),
        (
            TRANSIT + "&timeout=2.5",
            "transit",
            {"host": "127.0.0.1", "port": "8200", "mount": "transit"},
            {"token-file": "/run/vault-token", "timeout": "2.5"},
            2.5,
        ),
        ("transit://vault.internal/kv/transit", "transit", None, {}, 5.0),
        (AWSKMS, "awskms", {"region": "eu-west-1"}, {"endpoint": "http://127.0.0.1:5000"}, 5.0),
        (PKCS11.replace("token=t", "token=My%20Token%3B1"), "pkcs11", None, None, 5.0),
    ],
)
def test_well_formed_uris_parse(
    uri: str,
    scheme: str,
    attrs: dict[str, str] | None,
    query: dict[str, str] | None,
    timeout: float,
) -> None:
    spec = parse_custody(uri)
    assert spec.scheme == scheme
    assert spec.timeout == timeout
    if attrs is not None:
        assert spec.attrs == attrs
    if query is not None:
        assert spec.query == query
    again = parse_custody(spec.uri)
    assert (again.uri, again.attrs, again.query) == (spec.uri, spec.attrs, spec.query)


def test_percent_decoding_and_default_port() -> None:
    assert parse_custody(PKCS11.replace("token=t", "token=My%20Token%3B1")).attrs["token"] == (
        "My Token;1"
    )
    spec = parse_custody("transit://vault.internal/kv/transit")
    assert spec.attrs == {"host": "vault.internal", "port": "8200", "mount": "kv/transit"}
    assert spec.uri == "transit://vault.internal:8200/kv/transit"


_VALUE = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")))


@given(token=_VALUE.filter(bool), prefix=_VALUE, module=_VALUE.filter(bool))
def test_canonical_form_round_trips(token: str, prefix: str, module: str) -> None:
    uri = (
        f"pkcs11:token={quote(token, safe='')};object-prefix={quote(prefix, safe='')}"
        f"?module-path={quote(module, safe='')}&pin-source=file:/run/pin"
    )
    spec = parse_custody(uri)
    assert spec.attrs == {"token": token, "object-prefix": prefix}
    assert spec.query["module-path"] == module
    again = parse_custody(spec.uri)
    assert again.uri == spec.uri
    assert (again.attrs, again.query) == (spec.attrs, spec.query)


def test_open_custody_db_is_none() -> None:
    assert open_custody(DB) is None
    with pytest.raises(InvalidInputError):
        open_custody("nonsense:x")


# -- credentials ----------------------------------------------------------------------------


@pytest.mark.parametrize("content", ["s3cret\n", "s3cret\r\n", "s3cret", "s3cret\n\n"])
def test_credential_from_file(tmp_path: Path, content: str) -> None:
    path = tmp_path / "pin"
    path.write_text(content, newline="")
    assert read_credential(f"file:{path}", backend="pkcs11") == "s3cret"


def test_credential_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KW_TEST_PIN", "s3cret")
    assert read_credential("env:KW_TEST_PIN", backend="transit") == "s3cret"


@pytest.mark.parametrize(
    ("source", "content"),
    [
        ("file:{tmp}/missing", None),
        ("file:{tmp}/empty", ""),
        ("file:{tmp}/newline", "\n"),
        ("file:{tmp}/huge", "x" * (64 * 1024 + 1)),
        ("file:{tmp}", None),  # a directory
        ("env:KW_TEST_UNSET_VARIABLE", None),
        ("env:KW_TEST_EMPTY", None),
        ("inline:s3cret", None),
        ("s3cret", None),
        ("", None),
    ],
)
def test_missing_credentials_are_typed_and_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, content: str | None
) -> None:
    monkeypatch.setenv("KW_TEST_EMPTY", "")
    source = source.format(tmp=tmp_path)
    if content is not None:
        Path(source[5:]).write_text(content)
    with pytest.raises(CustodyError) as caught:
        read_credential(source, backend="awskms")
    assert (caught.value.backend, caught.value.operation) == ("awskms", "open")
    assert "s3cret" not in str(caught.value)
    if content:
        assert content[:100] not in str(caught.value)


# -- key names ------------------------------------------------------------------------------

_WHEN = datetime(2026, 12, 5, 15, 4, 5, tzinfo=UTC)
_TAIL = "0123456789abcdef012345"


@pytest.mark.parametrize(
    ("name", "keyset", "expected"),
    [
        (f"keywell-a-20261205150405-{_TAIL}", "a", _WHEN),
        (f"keywell-a-b-20261205150405-{_TAIL}", "a-b", _WHEN),
        (f"keywell-a-b-20261205150405-{_TAIL}", "a", None),  # set a-b is not set a
        (f"keywell-a-20261205150405-{_TAIL}", "a-b", None),
        (f"keywell-a-20261205150405-{_TAIL}", "b", None),
        (f"keywell-a-20261305150405-{_TAIL}", "a", None),  # month 13
        (f"keywell-a-20261205250405-{_TAIL}", "a", None),  # hour 25
        (f"keywell-a-2026120515040-{_TAIL}", "a", None),  # 13 digits
        (f"keywell-a-20261205150405-{_TAIL}0", "a", None),  # 23 hex
        (f"keywell-a-20261205150405-{_TAIL[:-1]}", "a", None),  # 21 hex
        (f"keywell-a-20261205150405-{_TAIL.upper()}", "a", None),
        (f"keywell-a-20261205150405_{_TAIL}", "a", None),
        (f"other-a-20261205150405-{_TAIL}", "a", None),
        (f"x-keywell-a-20261205150405-{_TAIL}", "a", None),
        ("keywell-a-", "a", None),
        ("", "a", None),
    ],
)
def test_key_name_time(name: str, keyset: str, expected: datetime | None) -> None:
    assert key_name_time(name, keyset) == expected


@given(keyset=st.from_regex(r"[a-z0-9][a-z0-9._-]{0,40}", fullmatch=True))
def test_key_name_round_trips(keyset: str) -> None:
    name = key_name(keyset, _WHEN)
    assert key_name_time(name, keyset) == _WHEN
    assert key_name_time(name, keyset + "-x") is None
    assert key_name(keyset) != key_name(keyset)


# -- signatures and public keys -------------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "ES384", "ES512"])
def test_ecdsa_der_to_jose(alg: str) -> None:
    private = ec.generate_private_key(ec_curve_of(alg))
    digest = {"ES256": hashes.SHA256(), "ES384": hashes.SHA384(), "ES512": hashes.SHA512()}[alg]
    for _ in range(20):  # short r or s values are padded to the curve's size
        raw = ecdsa_der_to_jose(private.sign(b"input", ec.ECDSA(digest)), alg)
        assert len(raw) == {"ES256": 64, "ES384": 96, "ES512": 132}[alg]
        public_jwk(private.public_key(), alg).verifier(alg)(b"input", raw)


@pytest.mark.parametrize(
    ("der", "alg"),
    [
        (b"", "ES256"),
        (b"\x30\x00", "ES256"),
        (b"not der", "ES384"),
        (bytes.fromhex("3006020101020101"), "RS256"),  # a fine DER signature, no ECDSA alg
        (bytes.fromhex("3006020101020101"), "none"),
        # r of 33 bytes: larger than P-256 allows (it would not fit 32 bytes)
        (bytes.fromhex("3026022101" + "ff" * 32 + "020101"), "ES256"),
    ],
)
def test_ecdsa_der_to_jose_refuses(der: bytes, alg: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        ecdsa_der_to_jose(der, alg)


def test_public_jwk_has_thumbprint_kid_and_no_private_part() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = public_jwk(private.public_key(), "ES256")
    members = jwk.to_dict()
    assert members["kid"] == jwk.thumbprint()
    assert (members["alg"], members["use"], members["crv"]) == ("ES256", "sig", "P-256")
    assert "d" not in members
