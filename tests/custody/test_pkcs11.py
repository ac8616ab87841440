"""PKCS11Custody against a real SoftHSM2 token (the backend-level contract).

The issuer-level contract (rotation, revocation, readyz...) is in
``test_contract.py``; here each call of :class:`keywell.custody.Custody` is
driven directly, and the token is inspected with the test's own PKCS#11
client in another process (``softhsm_client.py``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keywell.custody import Custody, CustodyKey, close_all, open_custody
from keywell.custody.pkcs11 import PKCS11Custody
from keywell.custody.pkcs11_keys import ALGORITHMS
from keywell.errors import CustodyError, KeywellError
from keywell.jose import JWK, JWKSet
from keywell.jose import jwt as kjwt
from keywell.jose._compact import compact, encode_header
from tests.custody.backend_pkcs11 import SoftHSM

ALGS = sorted(ALGORITHMS)
_SIG_SIZE = {"ES256": 64, "ES384": 96, "ES512": 132, "EdDSA": 64}


@pytest.fixture(autouse=True)
def _closed() -> Iterator[None]:
    yield
    close_all()


def _open(uri: str) -> PKCS11Custody:
    custody = open_custody(uri)
    assert isinstance(custody, PKCS11Custody)
    return custody


def _token(key: CustodyKey, alg: str, custody: Custody, claims: dict[str, object]) -> str:
    header = encode_header(alg, key.public.kid, None, "JWT")
    return compact(header, json.dumps(claims).encode(), custody.signer(key.ref, alg))


def _verify_both(token: str, public: JWK, alg: str) -> dict[str, object]:
    mine = dict(kjwt.decode(token, JWKSet([public]), issuer=None, audience=None, required=()))
    theirs = pyjwt.decode(token, pyjwt.PyJWK(public.to_dict()), algorithms=[alg])
    assert mine == theirs
    return mine


@pytest.mark.parametrize("alg", ALGS)
def test_every_algorithm_signs_what_keywell_and_pyjwt_verify(
    pkcs11_backend: SoftHSM, alg: str
) -> None:
    custody = _open(pkcs11_backend.fresh_uri())
    key = custody.generate(alg, keyset="ks")
    assert re.fullmatch(r"[0-9a-f]{32}", key.ref)
    public = key.public.to_dict()
    assert public["alg"] == alg
    assert public["use"] == "sig"
    assert public["kid"] == key.public.thumbprint()  # RFC 7638
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(public)
    claims = {"sub": "alice", "n": 1}
    assert _verify_both(_token(key, alg, custody, claims), key.public, alg) == claims
    signature = custody.signer(key.ref, alg)(b"signing input")
    if alg in _SIG_SIZE:  # JOSE form: raw r || s of the curve's size, not DER (RFC 7518 3.4)
        assert len(signature) == _SIG_SIZE[alg]
    key.public.verifier(alg)(b"signing input", signature)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256", "ES512", "EdDSA"])
def test_private_key_is_sensitive_and_never_extractable(pkcs11_backend: SoftHSM, alg: str) -> None:
    uri = pkcs11_backend.fresh_uri()
    key = _open(uri).generate(alg, keyset="ks")
    found = pkcs11_backend.inspect(uri, key.ref)
    assert found["token"]
    assert found["private"]
    assert found["sensitive"]
    assert not found["extractable"]
    assert found["always_sensitive"]
    assert found["never_extractable"]
    assert found["sign"]
    assert not found["decrypt"]
    assert not found["unwrap"]
    assert found["read_secret"] == ["AttributeSensitive"]
    assert found["wrap"] == "KeyUnextractable"
    assert found["make_extractable"] != "allowed"
    assert not found["extractable_after"]
    assert found["make_insensitive"] != "allowed"


def test_refs_destroy_and_destroy_again(pkcs11_backend: SoftHSM) -> None:
    uri = pkcs11_backend.fresh_uri()
    custody, other = _open(uri), _open(pkcs11_backend.fresh_uri())
    a1 = custody.generate("ES256", keyset="a")
    a2 = custody.generate("RS256", keyset="a")
    custody.generate("ES256", keyset="a-b")  # another set whose name starts alike
    other.generate("ES256", keyset="a")  # the same set name under another prefix
    refs = custody.refs("a")
    assert set(refs) == {a1.ref, a2.ref} == pkcs11_backend.held(uri, "a")
    assert all(name.startswith("keywell-a-") for name in refs.values())
    custody.destroy(a1.ref)
    assert set(custody.refs("a")) == {a2.ref} == pkcs11_backend.held(uri, "a")
    custody.destroy(a1.ref)  # already gone: no error
    custody.destroy("00" * 16)  # never existed: no error
    other.destroy(a2.ref)  # another prefix's key is not this custody's to destroy
    assert pkcs11_backend.held(uri, "a") == {a2.ref}


def test_key_deleted_out_of_band(pkcs11_backend: SoftHSM) -> None:
    uri = pkcs11_backend.fresh_uri()
    custody = _open(uri)
    key = custody.generate("ES256", keyset="ks")
    sign = custody.signer(key.ref, "ES256")
    sign(b"x")  # the key handle is now cached in the session
    pkcs11_backend.delete_out_of_band(uri, key.ref)
    with pytest.raises(CustodyError) as caught:
        sign(b"x")
    assert (caught.value.backend, caught.value.operation) == ("pkcs11", "sign")
    assert key.ref in str(caught.value)
    with pytest.raises(CustodyError):
        custody.signer(key.ref, "ES256")(b"x")
    assert custody.refs("ks") == {}
    custody.destroy(key.ref)


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda c: c.generate("HS256", keyset="ks"), "generate"),
        (lambda c: c.generate("ES256K", keyset="ks"), "generate"),
        (lambda c: c.generate("Ed448", keyset="ks"), "generate"),
        (lambda c: c.generate("none", keyset="ks"), "generate"),
        (lambda c: c.signer("00" * 16, "HS256"), "sign"),
        (lambda c: c.signer("zz" * 16, "ES256"), "sign"),
        (lambda c: c.signer("00" * 15, "ES256"), "sign"),
        (lambda c: c.signer("", "ES256"), "sign"),
        (lambda c: c.destroy("not hex"), "destroy"),
        (lambda c: c.destroy("00" * 17), "destroy"),
        (lambda c: c.signer("00" * 16, "ES256")(b"x"), "sign"),  # no such key
        (lambda c: c.generate("RS256", keyset="ks", rsa_bits=1), "generate"),  # token refuses
    ],
)
def test_bad_requests_are_typed(pkcs11_backend: SoftHSM, call: object, operation: str) -> None:
    custody = _open(pkcs11_backend.fresh_uri())
    with pytest.raises(CustodyError) as caught:
        call(custody)  # type: ignore[operator]
    assert (caught.value.backend, caught.value.operation) == ("pkcs11", operation)


def _secret_nowhere(secret: str, *texts: str) -> None:
    for text in texts:
        assert secret not in text


@pytest.mark.parametrize("token", ["keywell", "keywell-spare"])
def test_wrong_pin_is_refused_and_never_shown(
    pkcs11_backend: SoftHSM, token: str, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # keywell: logged in already by this process, keywell compares the PIN itself;
    # keywell-spare: the wrong PIN goes to C_Login.
    _open(pkcs11_backend.fresh_uri()).check()
    wrong = tmp_path / "pin"
    wrong_pin = "wrong-" + pkcs11_backend.spare_pin[:6]
    wrong.write_text(wrong_pin)
    uri = pkcs11_backend.uri("w-", token=token, pin_file=wrong)
    caplog.set_level(logging.DEBUG)
    custody = _open(uri)
    calls = (
        custody.check,
        lambda: custody.generate("ES256", keyset="ks"),
        lambda: custody.refs("ks"),
    )
    for call in calls:
        with pytest.raises(CustodyError) as caught:
            call()
        assert caught.value.backend == "pkcs11"
        assert "refused the PIN" in str(caught.value)
        _secret_nowhere(wrong_pin, str(caught.value), repr(caught.value), repr(custody))
    _secret_nowhere(wrong_pin, caplog.text, custody.uri)
    if token == "keywell-spare":  # the PIN file fixed: the next call logs in
        wrong.write_text(pkcs11_backend.spare_pin)
        custody.check()


@pytest.mark.parametrize(
    "uri_of",
    [
        lambda h, tmp: h.uri("x-", pin_file=tmp / "missing"),
        lambda h, tmp: h.uri("x-").replace("file:", "env:") + "-UNSET-VARIABLE",
        lambda h, tmp: h.uri("x-").replace("softhsm2.so", "nothing-here.so"),
        lambda h, tmp: h.uri("x-").replace("token=keywell;", "token=keywell;slot-id=one;"),
    ],
)
def test_missing_pin_source_is_typed_at_open(
    pkcs11_backend: SoftHSM, uri_of: object, tmp_path: Path
) -> None:
    with pytest.raises(CustodyError) as caught:
        open_custody(uri_of(pkcs11_backend, tmp_path))  # type: ignore[operator]
    assert (caught.value.backend, caught.value.operation) == ("pkcs11", "open")


@pytest.mark.parametrize(
    "uri_of",
    [
        lambda h: h.uri("x-", token="no-such-token"),
        lambda h: h.uri("x-").replace("/usr/lib/softhsm/libsofthsm2.so", "libnothing-here.so"),
        lambda h: h.uri("x-").replace("token=keywell;", "token=keywell;serial=0000;"),
        lambda h: h.uri("x-").replace("token=keywell;", "token=keywell;slot-id=1;"),
    ],
)
def test_token_or_module_not_found_is_typed(pkcs11_backend: SoftHSM, uri_of: object) -> None:
    custody = _open(uri_of(pkcs11_backend))  # type: ignore[operator]
    with pytest.raises(CustodyError) as caught:
        custody.check()
    assert (caught.value.backend, caught.value.operation) == ("pkcs11", "check")


def test_token_gone_then_back(pkcs11_backend: SoftHSM) -> None:
    uri = pkcs11_backend.fresh_uri()
    custody = _open(uri)
    key = custody.generate("ES256", keyset="ks")
    sign = custody.signer(key.ref, "ES256")
    sign(b"before")
    calls: dict[str, Callable[[], object]] = {
        "check": custody.check,
        "sign": lambda: sign(b"down"),
        "generate": lambda: custody.generate("ES256", keyset="ks"),
        "refs": lambda: custody.refs("ks"),
        "destroy": lambda: custody.destroy(key.ref),
    }
    with pkcs11_backend.down():
        for operation, call in calls.items():
            with pytest.raises(CustodyError) as caught:
                call()
            assert (caught.value.backend, caught.value.operation) == ("pkcs11", operation)
            assert "not available" in str(caught.value)
    custody.check()
    key.public.verifier("ES256")(b"after", sign(b"after"))
    assert set(custody.refs("ks")) == {key.ref} == pkcs11_backend.held(uri, "ks")


def test_concurrent_signing_from_threads(pkcs11_backend: SoftHSM) -> None:
    custody = _open(pkcs11_backend.fresh_uri())
    keys = {alg: custody.generate(alg, keyset="ks") for alg in ("ES256", "RS256", "EdDSA")}
    signers = {alg: custody.signer(key.ref, alg) for alg, key in keys.items()}

    def work(i: int) -> None:
        alg = ("ES256", "RS256", "EdDSA")[i % 3]
        data = f"message {i}".encode()
        keys[alg].public.verifier(alg)(data, signers[alg](data))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(work, range(120)))


def test_a_token_that_does_not_answer_is_bounded(pkcs11_backend: SoftHSM) -> None:
    custody = _open(pkcs11_backend.fresh_uri() + "&timeout=0.5")
    key = custody.generate("ES256", keyset="ks")
    sign = custody.signer(key.ref, "ES256")
    # The one fault we cannot make SoftHSM2 produce: a call that never returns. The
    # module's worker is held busy, as by a hung C_Sign, and later calls queue behind it.
    release = threading.Event()
    held = threading.Thread(target=custody._module.submit, args=(release.wait, 30))
    held.start()
    started = time.monotonic()
    try:
        with pytest.raises(CustodyError) as caught:
            sign(b"x")
        assert caught.value.operation == "sign"
        assert "within 0.5 s" in str(caught.value)
        assert time.monotonic() - started < 0.5 + 2  # hang detection, not speed
    finally:
        release.set()
        held.join()
    key.public.verifier("ES256")(b"x", sign(b"x"))


@pytest.fixture(scope="module")
def signing_keys(pkcs11_backend: SoftHSM) -> dict[str, tuple[str, CustodyKey]]:
    uri = pkcs11_backend.fresh_uri()
    custody = _open(uri)
    return {alg: (uri, custody.generate(alg, keyset="hyp")) for alg in ALGS}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(alg=st.sampled_from(ALGS), data=st.binary(max_size=2048))
def test_any_input_signs_and_verifies(
    signing_keys: dict[str, tuple[str, CustodyKey]], alg: str, data: bytes
) -> None:
    uri, key = signing_keys[alg]
    signature = _open(uri).signer(key.ref, alg)(data)
    key.public.verifier(alg)(data, signature)
    with pytest.raises(KeywellError):
        key.public.verifier(alg)(data + b"!", signature)


def test_a_forked_child_initialises_the_module_again(pkcs11_backend: SoftHSM) -> None:
    uri = pkcs11_backend.fresh_uri()
    key = _open(uri).generate("ES256", keyset="ks")  # the parent has the module loaded
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns of fork with threads; the child signs, exits
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: sign with the shared custody, report, leave at once
        code = 1
        try:
            os.write(write, _open(uri).signer(key.ref, "ES256")(b"from the child"))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    signature = os.read(read, 1024)
    _, status = os.waitpid(pid, 0)
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    key.public.verifier("ES256")(b"from the child", signature)
    key.public.verifier("ES256")(b"parent", _open(uri).signer(key.ref, "ES256")(b"parent"))
