"""AWSKMSCustody against moto's KMS server on loopback (backend level; the lifecycle is
tested by the contract suite).

What moto 5.2 does differently from AWS KMS, each pinned by a test named ``test_moto_*``
(see docs/custody/awskms.md, "Testing with moto"):

1. ``RSASSA_PSS_SHA_*`` signs with the longest salt (``PSS.MAX_LENGTH``), not a salt as
   long as the hash that KMS uses and RFC 7518 section 3.5 requires: PS* signatures from
   moto fail keywell's and PyJWT's verification.
2. ``Sign`` ignores ``MessageType=DIGEST``: it hashes the digest again.
3. ``Sign`` still signs with a key pending deletion (KMS refuses with
   ``KMSInvalidStateException``).
4. ``ScheduleKeyDeletion`` with a key ARN answers HTTP 500 (keywell's refs are key IDs).
5. IAM refusals come back as XML, so botocore reads the error code as ``403``.
6. ``ECC_NIST_EDWARDS25519`` (EdDSA) is not implemented.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from hypothesis import example, given, settings
from hypothesis import strategies as st

from keywell.custody import parse_custody
from keywell.custody.awskms import MAX_RAW_MESSAGE, AWSKMSCustody
from keywell.custody.base import CustodyKey
from keywell.errors import CustodyError, InvalidSignatureError
from keywell.jose import JWK, b64url_encode, jws
from tests.custody.backend_awskms import AWSKMSHandle

CORRECT_ON_MOTO = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
PSS = ("PS256", "PS384", "PS512")
HASH = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}

Opener = Callable[..., AWSKMSCustody]


@pytest.fixture
def open_kms(awskms_backend: AWSKMSHandle) -> Iterator[Opener]:
    """Open custodies (fresh region by default), closed after the test."""
    opened: list[AWSKMSCustody] = []

    def open_(uri: str | None = None) -> AWSKMSCustody:
        custody = AWSKMSCustody.from_spec(parse_custody(uri or awskms_backend.fresh_uri()))
        opened.append(custody)
        return custody

    yield open_
    for custody in opened:
        custody.close()


def signing_input(key: CustodyKey, alg: str, extra: str = "") -> bytes:
    header = {"alg": alg, "kid": key.public.kid, "typ": "JWT"}
    payload = {"sub": "alice", "pad": extra}
    return (
        b64url_encode(json.dumps(header).encode())
        + "."
        + b64url_encode(json.dumps(payload).encode())
    ).encode()


def at_limit(key: CustodyKey, alg: str, *, over: bool) -> bytes:
    """The longest signing input of at most 4096 bytes, or the shortest over it."""
    pad = 0
    while len(signing_input(key, alg, "x" * (pad + 1))) <= MAX_RAW_MESSAGE:
        pad += 1
    data = signing_input(key, alg, "x" * (pad + over))
    assert MAX_RAW_MESSAGE - 4 < len(data) <= MAX_RAW_MESSAGE + 4 * over
    return data


def token(data: bytes, signature: bytes) -> str:
    return data.decode() + "." + b64url_encode(signature)


def verify_both(key: CustodyKey, alg: str, compact: str) -> None:
    """keywell and PyJWT both accept ``compact`` under ``key``."""
    assert jws.verify(compact, key.public, algorithms=[alg]).header["kid"] == key.public.kid
    public = pyjwt.PyJWK(key.public.to_dict()).key
    assert pyjwt.decode(compact, public, algorithms=[alg])["sub"] == "alice"


@pytest.mark.parametrize("alg", CORRECT_ON_MOTO)
def test_sign_verifies_with_keywell_and_pyjwt(open_kms: Opener, alg: str) -> None:
    custody = open_kms()
    key = custody.generate(alg, keyset="sign")
    assert key.public.alg == alg
    assert key.public.use == "sig"
    assert key.public.kid == key.public.thumbprint()
    assert "d" not in key.public.to_dict()
    data = signing_input(key, alg)
    verify_both(key, alg, token(data, custody.signer(key.ref, alg)(data)))


@pytest.mark.parametrize("bits", [2048, 3072, 4096])
def test_rsa_key_sizes(open_kms: Opener, bits: int) -> None:
    custody = open_kms()
    key = custody.generate("RS256", keyset="sizes", rsa_bits=bits)
    public = key.public.public_key
    assert isinstance(public, RSAPublicKey)
    assert public.key_size == bits
    data = signing_input(key, "RS256")
    verify_both(key, "RS256", token(data, custody.signer(key.ref, "RS256")(data)))


@pytest.mark.parametrize("alg", PSS)
def test_moto_pss_salt_is_max_length(open_kms: Opener, alg: str) -> None:
    """Moto finding 1: PSS with the longest salt; keywell's RFC 7518 salt check refuses it."""
    custody = open_kms()
    key = custody.generate(alg, keyset="pss")
    data = signing_input(key, alg)
    signature = custody.signer(key.ref, alg)(data)
    with pytest.raises(InvalidSignatureError):
        jws.verify(token(data, signature), key.public, algorithms=[alg])
    with pytest.raises(pyjwt.InvalidSignatureError):
        pyjwt.decode(token(data, signature), pyjwt.PyJWK(key.public.to_dict()).key, [alg])
    public = key.public.public_key
    assert isinstance(public, RSAPublicKey)
    digest = HASH[alg[2:]]
    pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=padding.PSS.MAX_LENGTH)
    public.verify(signature, data, pss, digest)  # what moto signs: this passes


@pytest.mark.parametrize("alg", CORRECT_ON_MOTO)
def test_up_to_4096_bytes_is_raw_and_verifies(open_kms: Opener, alg: str) -> None:
    custody = open_kms()
    key = custody.generate(alg, keyset="raw")
    data = at_limit(key, alg, over=False)
    verify_both(key, alg, token(data, custody.signer(key.ref, alg)(data)))


@pytest.mark.parametrize("alg", CORRECT_ON_MOTO)
def test_moto_ignores_digest_message_type(open_kms: Opener, alg: str) -> None:
    """Moto finding 2: over 4096 bytes keywell sends the hash (DIGEST); moto hashes it again.

    The signature is over SHA-x(signing input) taken as a message, which proves
    keywell sent exactly that digest; AWS KMS signs the digest as is.
    """
    custody = open_kms()
    key = custody.generate(alg, keyset="digest")
    data = at_limit(key, alg, over=True)
    assert len(data) > MAX_RAW_MESSAGE
    signature = custody.signer(key.ref, alg)(data)
    with pytest.raises(InvalidSignatureError):
        jws.verify(token(data, signature), key.public, algorithms=[alg])
    hasher = hashes.Hash(HASH[alg[2:]])
    hasher.update(data)
    digest = hasher.finalize()
    signer_input = key.public.to_dict()
    verifier = pyjwt.get_algorithm_by_name(alg)
    assert verifier.verify(digest, verifier.from_jwk(signer_input), signature)


def test_destroy_removes_from_refs_and_is_idempotent(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
) -> None:
    uri = awskms_backend.fresh_uri()
    custody = open_kms(uri)
    keep, drop = (custody.generate("ES256", keyset="life") for _ in range(2))
    assert set(custody.refs("life")) == {keep.ref, drop.ref} == awskms_backend.held(uri, "life")
    custody.destroy(drop.ref)
    custody.destroy(drop.ref)  # already pending deletion: no error
    assert set(custody.refs("life")) == {keep.ref} == awskms_backend.held(uri, "life")
    state = awskms_backend.client(uri).describe_key(KeyId=drop.ref)["KeyMetadata"]
    assert state["KeyState"] == "PendingDeletion"
    custody.destroy("00000000-0000-4000-8000-000000000000")  # unknown to KMS: no error


def test_moto_signs_with_a_key_pending_deletion(open_kms: Opener) -> None:
    """Moto finding 3: KMS refuses Sign once deletion is scheduled; moto still signs."""
    custody = open_kms()
    key = custody.generate("ES256", keyset="pending")
    custody.destroy(key.ref)
    data = signing_input(key, "ES256")
    verify_both(key, "ES256", token(data, custody.signer(key.ref, "ES256")(data)))


def test_moto_schedule_deletion_by_arn_is_a_500(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
) -> None:
    """Moto finding 4: why keywell's refs are key IDs, not ARNs."""
    uri = awskms_backend.fresh_uri()
    key = open_kms(uri).generate("ES256", keyset="arn")
    client = awskms_backend.client(uri)
    arn = client.describe_key(KeyId=key.ref)["KeyMetadata"]["Arn"]
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def test_refs_lists_only_this_sets_live_keys(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
) -> None:
    uri = awskms_backend.fresh_uri()
    custody = open_kms(uri)
    mine = custody.generate("ES256", keyset="a")
    other = custody.generate("ES256", keyset="a-b")  # a prefix of another set's name
    client = awskms_backend.client(uri)
    for tags in (
        [],  # someone else's key
        [{"TagKey": "keywell-keyset", "TagValue": "a"}],  # no key name
        [
            {"TagKey": "keywell-keyset", "TagValue": "a"},
            {"TagKey": "keywell-key", "TagValue": "keywell-a-not-a-stamp"},
        ],
    ):
        client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256", Tags=tags)
    assert list(custody.refs("a")) == [mine.ref]
    assert list(custody.refs("a-b")) == [other.ref]
    assert custody.refs("nothing") == {}
    (name,) = custody.refs("a").values()
    assert name.startswith("keywell-a-")


def test_deleted_out_of_band(open_kms: Opener, awskms_backend: AWSKMSHandle) -> None:
    uri = awskms_backend.fresh_uri()
    custody = open_kms(uri)
    key = custody.generate("RS256", keyset="oob")
    awskms_backend.delete_out_of_band(uri, key.ref)
    assert custody.refs("oob") == {}
    custody.destroy(key.ref)  # revoking it afterwards still works


def test_generate_destroys_a_key_whose_public_key_is_refused(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
) -> None:
    """CreateKey succeeds, GetPublicKey is denied: the new key is scheduled for deletion."""
    moto = awskms_backend.moto
    region = "ap-south-2"  # a region the fresh URIs of account keywell-0 reach last
    custody = open_kms(moto.uri(region, profile=moto.NO_PUBLIC, timeout=15))
    with pytest.raises(CustodyError) as caught:
        custody.generate("ES256", keyset="half")
    assert caught.value.operation == "generate"
    client = moto.client(region, moto.accounts[0])  # the same account, allowed everything
    states = [
        client.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]["KeyState"]
        for entry in client.list_keys()["Keys"]
        if {"TagKey": "keywell-keyset", "TagValue": "half"}
        in client.list_resource_tags(KeyId=entry["KeyId"])["Tags"]
    ]
    assert states == ["PendingDeletion"]
    assert custody.refs("half") == {}


def test_every_size_is_signed_raw_or_as_digest(open_kms: Opener) -> None:
    """Up to 4096 bytes the signature is over the input itself; beyond, over its SHA-256
    (which moto, ignoring DIGEST, hashes again: finding 2)."""
    custody = open_kms()
    key = custody.generate("ES256", keyset="sizes")
    sign = custody.signer(key.ref, "ES256")
    public = key.public.public_key
    assert isinstance(public, EllipticCurvePublicKey)

    @settings(max_examples=60, deadline=None)
    @example(size=MAX_RAW_MESSAGE)
    @example(size=MAX_RAW_MESSAGE + 1)
    @given(size=st.integers(min_value=1, max_value=3 * MAX_RAW_MESSAGE))
    def check(size: int) -> None:
        data = bytes(i % 251 for i in range(size))
        raw = sign(data)
        r, s = int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")
        if size > MAX_RAW_MESSAGE:
            hasher = hashes.Hash(hashes.SHA256())
            hasher.update(data)
            data = hasher.finalize()
        public.verify(encode_dss_signature(r, s), data, ECDSA(hashes.SHA256()))

    check()


def test_unknown_key_is_a_typed_sign_error(open_kms: Opener) -> None:
    sign = open_kms().signer("00000000-0000-4000-8000-000000000000", "ES256")
    with pytest.raises(CustodyError) as caught:
        sign(b"a.b")
    assert (caught.value.backend, caught.value.operation) == ("awskms", "sign")
    assert "NotFoundException" in str(caught.value)


@pytest.mark.parametrize(
    ("call", "operation"),
    [
        (lambda c, key: c.check(), "check"),
        (lambda c, key: c.generate("ES256", keyset="down"), "generate"),
        (lambda c, key: c.signer(key.ref, "ES256")(b"a.b"), "sign"),
        (lambda c, key: c.destroy(key.ref), "destroy"),
        (lambda c, key: c.refs("down"), "refs"),
    ],
    ids=["check", "generate", "sign", "destroy", "refs"],
)
@pytest.mark.parametrize("state", ["down", "stall"])
def test_unreachable_or_slow_is_typed_and_bounded(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
    call: Callable[[AWSKMSCustody, CustodyKey], object],
    operation: str,
    state: str,
) -> None:
    timeout = 1.0
    roomy = awskms_backend.fresh_uri()  # the setup must not time out on a loaded machine
    spec = parse_custody(roomy)
    quick = awskms_backend.moto.uri(
        spec.attrs["region"], profile=spec.query["profile"], timeout=timeout
    )
    key = open_kms(roomy).generate("ES256", keyset="down")
    custody = open_kms(quick)
    custody.check()  # a pooled connection is open when the outage starts
    outage = awskms_backend.down() if state == "down" else awskms_backend.slow()
    with outage:
        started = time.monotonic()
        with pytest.raises(CustodyError) as caught:
            call(custody, key)
        assert time.monotonic() - started < timeout + 2  # two attempts of timeout/2, back-off
    assert (caught.value.backend, caught.value.operation) == ("awskms", operation)
    custody.check()  # reachable again: the same instance recovers
    assert key.ref in open_kms(roomy).refs("down")


@pytest.mark.parametrize("which", ["wrong", "denied"])
def test_refused_credential_is_typed_and_not_shown(
    open_kms: Opener,
    awskms_backend: AWSKMSHandle,
    which: str,
) -> None:
    """Unknown access keys (InvalidClientTokenId) and an IAM user allowed nothing (AccessDenied).

    Moto finding 5: both come back as XML, so the code botocore reads is ``403``.
    """
    uri = awskms_backend.wrong_credential_uri() if which == "wrong" else awskms_backend.denied_uri()
    custody = open_kms(uri)
    secrets_ = awskms_backend.moto.credentials_file.read_text().split()
    for call in (custody.check, lambda: custody.generate("ES256", keyset="cred")):
        with pytest.raises(CustodyError) as caught:
            call()
        text = f"{caught.value} {caught.value!r} {custody!r}"
        assert "HTTP 403" in text
        assert "not authorized" not in text  # the service's message text is not echoed
        assert "security token" not in text
        for word in secrets_:
            if len(word) >= 16:
                assert word not in text


def test_no_credentials_at_all_is_typed(
    awskms_backend: AWSKMSHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No profile, no variables, no role: boto3's chain finds nothing; said so, typed."""
    empty = tmp_path / "credentials"
    empty.write_text("")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    endpoint = awskms_backend.moto.endpoint
    custody = AWSKMSCustody.from_spec(parse_custody(f"awskms:region=eu-west-1?endpoint={endpoint}"))
    try:
        with pytest.raises(CustodyError, match="no AWS credentials found") as caught:
            custody.check()
        assert caught.value.operation == "check"
    finally:
        custody.close()


def test_open_refusals() -> None:
    bad = [
        "awskms:region=eu-west-1?endpoint=http://kms.example.com",  # plain http off loopback
        "awskms:region=eu-west-1?endpoint=ftp://127.0.0.1",
        "awskms:region=eu-west-1?endpoint=https://",
        "awskms:region=eu-west-1?profile=keywell-no-such-profile",
    ]
    for uri in bad:
        with pytest.raises(CustodyError) as caught:
            AWSKMSCustody.from_spec(parse_custody(uri))
        assert caught.value.operation == "open"
    for uri in (
        "awskms:region=eu-west-1?endpoint=https://kms.example.com",
        "awskms:region=eu-west-1?endpoint=http://[::1]:4566",
        "awskms:region=eu-west-1?endpoint=http://localhost:4566",
    ):
        AWSKMSCustody.from_spec(parse_custody(uri)).close()


@pytest.mark.parametrize(
    ("alg", "bits"), [("EdDSA", 2048), ("HS256", 2048), ("none", 2048), ("RS256", 1024)]
)
def test_unsupported_keys_are_refused(open_kms: Opener, alg: str, bits: int) -> None:
    custody = open_kms()
    with pytest.raises(CustodyError) as caught:
        custody.generate(alg, keyset="nope", rsa_bits=bits)
    assert caught.value.operation == "generate"
    assert custody.refs("nope") == {}
    with pytest.raises(CustodyError):
        custody.signer("x", alg if alg != "RS256" else "RS1")


def test_moto_has_no_ed25519(open_kms: Opener, awskms_backend: AWSKMSHandle) -> None:
    """Moto finding 6: AWS KMS has ECC_NIST_EDWARDS25519 keys; moto refuses the key spec.

    keywell offers no EdDSA in KMS custody: it could not be tested here, and
    ED25519_SHA_512 takes RAW messages only (4096 bytes at most).
    """
    uri = awskms_backend.fresh_uri()
    client = awskms_backend.client(uri)
    with pytest.raises(client.exceptions.ClientError, match="ValidationException"):
        client.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_EDWARDS25519")
    assert "EdDSA" not in open_kms(uri).algorithms


def test_threads_share_one_custody(open_kms: Opener) -> None:
    custody = open_kms()
    keys = {alg: custody.generate(alg, keyset="threads") for alg in ("RS256", "ES256", "ES384")}
    failures: list[BaseException] = []

    def work(alg: str) -> None:
        try:
            key = keys[alg]
            sign = custody.signer(key.ref, alg)
            for _ in range(5):
                data = signing_input(key, alg)
                verify_both(key, alg, token(data, sign(data)))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(alg,)) for alg in list(keys) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert set(custody.refs("threads")) == {key.ref for key in keys.values()}


def test_signature_is_not_forgeable_across_keys(open_kms: Opener) -> None:
    custody = open_kms()
    one, two = (custody.generate("ES256", keyset="two") for _ in range(2))
    data = signing_input(one, "ES256")
    signature = custody.signer(two.ref, "ES256")(data)
    with pytest.raises(InvalidSignatureError):
        jws.verify(token(data, signature), one.public, algorithms=["ES256"])
    public = JWK.from_dict({**two.public.to_dict(), "kid": one.public.kid})  # two signed it
    assert (
        jws.verify(token(data, signature), public, algorithms=["ES256"]).header["kid"]
        == one.public.kid
    )
