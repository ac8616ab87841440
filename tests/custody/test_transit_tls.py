"""Transit over https (``ca-file``) and in a namespace, on a real ``bao server -dev -dev-tls``.

A second OpenBao dev server for this module serves TLS with a certificate for
127.0.0.1 signed by a CA it generates: with that CA as ``ca-file`` keywell
speaks https and verifies the server; with another CA the handshake fails
with a typed error. OpenBao namespaces: a custody with ``namespace=`` makes,
lists and destroys its keys inside the namespace only. A sealed server: every
operation is a typed 503 refusal, and all works again once it is unsealed.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sim.openbao import OpenBaoDev

from keywell.custody import close_all, open_custody
from keywell.custody.transit import TransitCustody
from keywell.errors import CustodyError
from keywell.jose import b64url_encode, jws


@pytest.fixture(scope="module")
def tls_bao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBaoDev]:
    """An OpenBao dev server serving https on loopback."""
    try:
        bao = OpenBaoDev(tmp_path_factory.mktemp("openbao-tls"), tls=True)
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield bao
    bao.stop()
    close_all()


def other_ca(path: Path) -> Path:
    """A self-signed CA certificate that signed nothing the server has."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not the server's CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def uri(bao: OpenBaoDev, mount: str, extra: str = "") -> str:
    return (
        f"transit://127.0.0.1:{bao.port}/{mount}?token-file={bao.token_file}"
        f"&ca-file={bao.ca_file}{extra}"
    )


def sign_and_verify(custody: TransitCustody, alg: str) -> None:
    key = custody.generate(alg, keyset="svc")
    header = b64url_encode(json.dumps({"alg": alg, "kid": key.public.kid}).encode())
    payload = b64url_encode(b'{"sub":"tls"}')
    sig = custody.signer(key.ref, alg)(f"{header}.{payload}".encode())
    token = f"{header}.{payload}.{b64url_encode(sig)}"
    assert jws.verify(token, key.public, algorithms=[alg]).payload == b'{"sub":"tls"}'


def test_https_with_the_servers_ca(tls_bao: OpenBaoDev) -> None:
    custody = open_custody(uri(tls_bao, tls_bao.enable_transit()))
    assert isinstance(custody, TransitCustody)
    assert custody.url == f"https://127.0.0.1:{tls_bao.port}"
    custody.check()
    sign_and_verify(custody, "ES256")
    for ref in custody.refs("svc"):
        custody.destroy(ref)
    assert custody.refs("svc") == {}


def test_https_with_another_ca_is_refused_typed(tls_bao: OpenBaoDev, tmp_path: Path) -> None:
    mount = tls_bao.enable_transit()
    wrong = other_ca(tmp_path / "other-ca.pem")
    spec = (
        f"transit://127.0.0.1:{tls_bao.port}/{mount}?token-file={tls_bao.token_file}"
        f"&ca-file={wrong}"
    )
    custody = open_custody(spec)
    assert custody is not None
    for operation, call in {
        "check": custody.check,
        "generate": lambda: custody.generate("ES256", keyset="svc"),
        "refs": lambda: custody.refs("svc"),
    }.items():
        with pytest.raises(CustodyError, match=r"TLS with .* failed") as caught:
            call()
        assert caught.value.operation == operation


def test_plain_http_to_a_tls_server_is_refused_typed(tls_bao: OpenBaoDev) -> None:
    mount = tls_bao.enable_transit()
    custody = open_custody(
        f"transit://127.0.0.1:{tls_bao.port}/{mount}?token-file={tls_bao.token_file}"
    )
    assert custody is not None
    with pytest.raises(CustodyError) as caught:
        custody.check()
    assert caught.value.operation == "check"


def test_missing_ca_file_refused_at_open(tls_bao: OpenBaoDev, tmp_path: Path) -> None:
    spec = f"transit://127.0.0.1:{tls_bao.port}/t?token-file={tls_bao.token_file}"
    for ca in (tmp_path / "missing.pem", tmp_path):
        with pytest.raises(CustodyError, match="ca-file") as caught:
            open_custody(f"{spec}&ca-file={ca}")
        assert caught.value.operation == "open"


def test_namespace_keeps_keys_inside_it(tls_bao: OpenBaoDev) -> None:
    root = tls_bao.client()
    try:
        root.adapter.post("/v1/sys/namespaces/team-a")
    finally:
        root.adapter.close()
    mount = tls_bao.enable_transit(namespace="team-a")
    custody = open_custody(uri(tls_bao, mount, "&namespace=team-a"))
    assert isinstance(custody, TransitCustody)
    custody.check()
    sign_and_verify(custody, "EdDSA")
    (ref,) = custody.refs("svc")
    outside = open_custody(uri(tls_bao, mount))  # the same mount path, root namespace
    assert outside is not None
    with pytest.raises(CustodyError, match="no Transit mount"):
        outside.refs("svc")
    inside = tls_bao.client(namespace="team-a")
    try:
        assert inside.secrets.transit.list_keys(mount_point=mount)["data"]["keys"] == [ref]
    finally:
        inside.adapter.close()
    custody.destroy(ref)
    assert custody.refs("svc") == {}


def test_sealed_vault_is_a_typed_refusal_then_recovers(tls_bao: OpenBaoDev) -> None:
    custody = open_custody(uri(tls_bao, tls_bao.enable_transit()))
    assert isinstance(custody, TransitCustody)
    key = custody.generate("ES384", keyset="svc")
    unseal_key = tls_bao.unseal_key()
    root = tls_bao.client()
    try:
        root.sys.seal()
        calls = {
            "check": custody.check,
            "generate": lambda: custody.generate("ES256", keyset="svc"),
            "sign": lambda: custody.signer(key.ref, "ES384")(b"x.y"),
            "destroy": lambda: custody.destroy(key.ref),
            "refs": lambda: custody.refs("svc"),
        }
        for operation, call in calls.items():
            with pytest.raises(CustodyError, match="503") as caught:
                call()
            assert caught.value.operation == operation
        assert unseal_key not in repr(caught.value)
    finally:
        root.sys.submit_unseal_key(unseal_key)
        root.adapter.close()
    custody.check()
    assert custody.refs("svc") == {key.ref: key.ref}
    assert len(custody.signer(key.ref, "ES384")(b"x.y")) == 96
