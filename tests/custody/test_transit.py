"""The Transit custody against a real ``bao server -dev`` on loopback (backend level).

Every algorithm generates a non-exportable key, signs, and the signature
verifies with keywell and with PyJWT (and PS256's salt length is the hash
length, RFC 7518 section 3.5); refs, destroy, a wrong token, an unreachable
and a hanging backend, keys deleted or rotated behind keywell's back, and
concurrent signers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hvac.exceptions
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from keywell.custody import close_all, open_custody, parse_custody
from keywell.custody.base import Custody, CustodyKey
from keywell.custody.transit import TransitCustody
from keywell.errors import CustodyError
from keywell.jose import JWK, b64url_decode, b64url_encode, jws
from tests.custody.backend_transit import TransitHandle

# (alg, RSA bits): every algorithm, and every RSA size Transit makes.
CASES = [
    ("RS256", 2048),
    ("PS256", 2048),
    ("RS256", 3072),
    ("PS256", 4096),
    ("ES256", 2048),
    ("ES384", 2048),
    ("ES512", 2048),
    ("EdDSA", 2048),
]
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


@pytest.fixture
def custody(transit_backend: TransitHandle) -> Iterator[Custody]:
    """A Transit custody on a fresh mount."""
    found = open_custody(transit_backend.fresh_uri())
    assert isinstance(found, TransitCustody)
    yield found
    close_all()


def token_for(custody: Custody, key: CustodyKey, claims: dict[str, Any]) -> str:
    """A compact JWS of ``claims`` signed by ``key`` in ``custody``."""
    alg = key.public.alg
    assert alg is not None
    header = b64url_encode(json.dumps({"alg": alg, "kid": key.public.kid}).encode())
    payload = b64url_encode(json.dumps(claims).encode())
    signature = custody.signer(key.ref, alg)(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{b64url_encode(signature)}"


def assert_verifies(key: CustodyKey, token: str, claims: dict[str, Any]) -> None:
    """``token`` verifies with keywell and with PyJWT against the published JWK."""
    alg = key.public.alg
    assert alg is not None
    assert json.loads(jws.verify(token, key.public, algorithms=[alg]).payload) == claims
    published = jwt.PyJWK(key.public.to_dict())
    assert jwt.decode(token, published.key, algorithms=[alg]) == claims


@pytest.mark.parametrize(("alg", "bits"), CASES)
def test_generate_sign_verify(
    custody: Custody, transit_backend: TransitHandle, alg: str, bits: int
) -> None:
    key = custody.generate(alg, keyset="svc", rsa_bits=bits)
    public = key.public.to_dict()
    assert key.public.alg == alg
    assert public["use"] == "sig"
    assert key.public.kid == JWK.from_dict(public).thumbprint()  # RFC 7638
    assert not PRIVATE_MEMBERS & public.keys()
    if alg in ("RS256", "PS256"):
        assert key.public.public_key.key_size == bits
    claims = {"sub": "alice", "n": 1}
    token = token_for(custody, key, claims)
    assert_verifies(key, token, claims)
    if alg == "PS256":  # the salt is exactly the hash length (RFC 7518 section 3.5)
        head, _, sig = token.rpartition(".")
        key.public.public_key.verify(
            b64url_decode(sig),
            head.encode(),
            padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32),
            hashes.SHA256(),
        )
    assert transit_backend.held(custody.uri, "svc") == {key.ref}


def test_keys_are_not_exportable(custody: Custody, transit_backend: TransitHandle) -> None:
    key = custody.generate("ES256", keyset="svc")
    with pytest.raises(hvac.exceptions.InvalidRequest, match="not exportable"):
        transit_backend.export(custody.uri, key.ref)
    mount = parse_custody(custody.uri).attrs["mount"]
    data = transit_backend.root.secrets.transit.read_key(key.ref, mount_point=mount)["data"]
    assert data["exportable"] is False
    assert data["allow_plaintext_backup"] is False


def test_refs_destroy_idempotent(custody: Custody, transit_backend: TransitHandle) -> None:
    assert custody.refs("a") == {}
    one = custody.generate("ES256", keyset="a")
    two = custody.generate("EdDSA", keyset="a")
    other = custody.generate("ES256", keyset="a-b")  # a longer name: never one of "a"
    assert custody.refs("a") == {one.ref: one.ref, two.ref: two.ref}
    assert custody.refs("a-b") == {other.ref: other.ref}
    custody.destroy(one.ref)
    custody.destroy(one.ref)  # already gone: no error
    assert custody.refs("a") == {two.ref: two.ref}
    assert transit_backend.held(custody.uri, "a") == {two.ref}
    with pytest.raises(CustodyError) as caught:
        custody.signer(one.ref, "ES256")(b"x.y")
    assert caught.value.operation == "sign"
    custody.destroy(two.ref)
    custody.destroy(other.ref)
    assert transit_backend.held(custody.uri, "a") == set()
    assert transit_backend.held(custody.uri, "a-b") == set()


def test_deleted_out_of_band(custody: Custody, transit_backend: TransitHandle) -> None:
    key = custody.generate("RS256", keyset="svc")
    sign = custody.signer(key.ref, "RS256")
    assert_verifies(key, token_for(custody, key, {"a": 1}), {"a": 1})
    transit_backend.delete_out_of_band(custody.uri, key.ref)
    with pytest.raises(CustodyError, match="not found") as caught:
        sign(b"x.y")
    assert (caught.value.backend, caught.value.operation) == ("transit", "sign")
    custody.destroy(key.ref)  # destroying what is already gone is fine
    assert custody.refs("svc") == {}


def test_rotated_out_of_band_still_signs_with_version_1(
    custody: Custody, transit_backend: TransitHandle
) -> None:
    key = custody.generate("ES384", keyset="svc")
    mount = parse_custody(custody.uri).attrs["mount"]
    transit_backend.root.secrets.transit.rotate_key(key.ref, mount_point=mount)
    claims = {"after": "rotation"}
    assert_verifies(key, token_for(custody, key, claims), claims)


@pytest.mark.parametrize(
    ("made", "asked"),
    [("ES256", "RS256"), ("EdDSA", "ES256"), ("RS256", "ES512"), ("ES384", "ES256")],
)
def test_key_of_another_type_refused(custody: Custody, made: str, asked: str) -> None:
    key = custody.generate(made, keyset="svc")
    with pytest.raises(CustodyError, match="type") as caught:
        custody.signer(key.ref, asked)(b"x.y")
    assert caught.value.operation == "sign"


@pytest.mark.parametrize("ref", ["", "../keys/x", "a/b", "a b", "x" * 300, "-x", "é", "a\n"])
def test_bad_refs_refused(custody: Custody, ref: str) -> None:
    for call in (lambda: custody.signer(ref, "ES256"), lambda: custody.destroy(ref)):
        with pytest.raises(CustodyError, match="not a Transit key name"):
            call()


@pytest.mark.parametrize(
    ("alg", "bits"), [("HS256", 2048), ("RS384", 2048), ("RS256", 1024), ("PS256", 8192)]
)
def test_unavailable_algorithms_refused(custody: Custody, alg: str, bits: int) -> None:
    with pytest.raises(CustodyError) as caught:
        custody.generate(alg, keyset="svc", rsa_bits=bits)
    assert caught.value.operation == "generate"
    assert custody.refs("svc") == {}


def test_check_and_missing_mount(custody: Custody, transit_backend: TransitHandle) -> None:
    custody.check()
    missing = open_custody(transit_backend.uri("no-such-mount"))
    assert missing is not None
    with pytest.raises(CustodyError, match="no Transit mount") as caught:
        missing.check()
    assert caught.value.operation == "check"


def test_wrong_token_typed_and_never_shown(
    transit_backend: TransitHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    uri = transit_backend.wrong_credential_uri()
    token = Path(parse_custody(uri).query["token-file"]).read_text()
    custody = open_custody(uri)
    assert custody is not None
    calls = {
        "check": custody.check,
        "generate": lambda: custody.generate("ES256", keyset="svc"),
        "sign": lambda: custody.signer("keywell-svc-x", "ES256")(b"x.y"),
        "destroy": lambda: custody.destroy("keywell-svc-x"),
        "refs": lambda: custody.refs("svc"),
    }
    for operation, call in calls.items():
        with pytest.raises(CustodyError, match="permission denied") as caught:
            call()
        error = caught.value
        assert (error.backend, error.operation) == ("transit", operation)
        assert error.__cause__ is None
        for shown in (str(error), repr(error), repr(error.args)):
            assert token not in shown
    assert token not in repr(custody)
    assert token not in caplog.text
    close_all()


def test_root_token_never_logged(
    custody: Custody, transit_backend: TransitHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = custody.generate("PS256", keyset="svc")
    token_for(custody, key, {"a": 1})
    custody.check()
    custody.destroy(key.ref)
    assert transit_backend.bao.root_token not in caplog.text
    assert transit_backend.bao.root_token not in repr(custody)


def test_backend_down_typed_then_recovers(custody: Custody, transit_backend: TransitHandle) -> None:
    key = custody.generate("ES256", keyset="svc")
    sign = custody.signer(key.ref, "ES256")
    sign(b"warm.up")
    calls = {
        "check": custody.check,
        "generate": lambda: custody.generate("ES256", keyset="svc"),
        "sign": lambda: sign(b"x.y"),
        "destroy": lambda: custody.destroy(key.ref),
        "refs": lambda: custody.refs("svc"),
    }
    with transit_backend.down():
        for operation, call in calls.items():
            with pytest.raises(CustodyError, match="cannot reach") as caught:
                call()
            assert caught.value.operation == operation
    custody.check()
    assert custody.refs("svc") == {key.ref: key.ref}  # nothing made, nothing lost
    assert_verifies(key, token_for(custody, key, {"b": 2}), {"b": 2})


def test_backend_hanging_bounded_by_timeout(transit_backend: TransitHandle) -> None:
    timeout = 1.0
    custody = open_custody(transit_backend.fresh_uri(timeout=timeout))
    assert custody is not None
    key = custody.generate("ES256", keyset="svc")
    sign = custody.signer(key.ref, "ES256")
    sign(b"warm.up")
    calls = {
        "check": custody.check,
        "generate": lambda: custody.generate("EdDSA", keyset="svc"),
        "sign": lambda: sign(b"x.y"),
        "destroy": lambda: custody.destroy(key.ref),
        "refs": lambda: custody.refs("svc"),
    }
    with transit_backend.slow():
        for operation, call in calls.items():
            started = time.monotonic()
            with pytest.raises(CustodyError, match="did not answer within 1 s") as caught:
                call()
            elapsed = time.monotonic() - started
            assert caught.value.operation == operation
            assert elapsed < timeout + 2, f"{operation} took {elapsed:.1f} s"  # hang detection
    assert_verifies(key, token_for(custody, key, {"c": 3}), {"c": 3})
    close_all()


def test_concurrent_signers(custody: Custody) -> None:
    keys = [custody.generate(alg, keyset="svc") for alg in ("ES256", "RS256", "EdDSA")]
    tokens: list[tuple[CustodyKey, str, dict[str, Any]]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(worker: int) -> None:
        try:
            for n in range(15):
                key = keys[(worker + n) % len(keys)]
                claims = {"w": worker, "n": n}
                token = token_for(custody, key, claims)
                with lock:
                    tokens.append((key, token, claims))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert len(tokens) == 8 * 15
    for key, token, claims in tokens:
        assert_verifies(key, token, claims)


def test_token_replaced_in_its_file_is_read_again(transit_backend: TransitHandle) -> None:
    # Vault Agent writes a new token to its sink file; the old one is revoked.
    mount = transit_backend.new_mount()
    policy = f'path "{mount}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}'
    token_file = transit_backend.token_for(policy)
    custody = open_custody(transit_backend.uri(mount, token_file=token_file))
    assert custody is not None
    key = custody.generate("ES256", keyset="svc")
    sign = custody.signer(key.ref, "ES256")
    assert_verifies(key, token_for(custody, key, {"n": 1}), {"n": 1})
    old = token_file.read_text()
    transit_backend.root.auth.token.revoke(old)
    with pytest.raises(CustodyError, match="permission denied") as caught:
        sign(b"x.y")  # the file still holds the revoked token
    assert old not in str(caught.value)
    new = transit_backend.token_for(policy).read_text()
    token_file.write_text(new)
    assert len(sign(b"x.y")) == 64
    assert_verifies(key, token_for(custody, key, {"n": 2}), {"n": 2})
    close_all()


def test_forked_child_signs_on_its_own_connections(custody: Custody) -> None:
    # A server forking its workers after the custody was used: parent and
    # child must not share one pooled HTTP connection.
    key = custody.generate("ES256", keyset="svc")
    sign = custody.signer(key.ref, "ES256")
    sign(b"before.fork")
    pid = os.fork()
    if pid == 0:  # the child: sign a few times, report by exit status
        try:
            ok = all(len(sign(f"child.{n}".encode())) == 64 for n in range(20))
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    parent = [sign(f"parent.{n}".encode()) for n in range(20)]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert all(len(s) == 64 for s in parent)
