"""One test per error class: each is raised by a real operation and carries its stable code."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

import keywell
from keywell import JWK, JWKSet, Verifier, errors, jwt
from keywell.issuer import Issuer
from keywell.store import KEKRing

KEY = JWK.generate("ES256", kid="k1")
NOW = int(time.time())


def _token(**claims: object) -> str:
    base: dict[str, object] = {"iss": "i", "aud": "a", "exp": NOW + 60}
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, KEY)


def _verify(token: str, keys: object = None, **kw: object) -> None:
    # A frozen clock: tokens are built at import, long before a slow suite runs them.
    verifier = Verifier(keys or KEY.public(), issuer="i", audience="a", clock=lambda: NOW, **kw)  # type: ignore[arg-type]
    verifier.verify(token)


def _on_issuer(action: Callable[[Issuer], object]) -> Callable[[], object]:
    """Run ``action`` on an Issuer over a fresh SQLite file holding an ES256 and an HS256 set."""

    def run() -> object:
        with tempfile.TemporaryDirectory() as tmp:
            issuer = Issuer(
                f"sqlite:///{Path(tmp) / 'keywell.db'}", keks=KEKRing.generate(), auto_upgrade=True
            )
            try:
                issuer.create_keyset("main", issuer="https://i.test")
                issuer.create_keyset("private", issuer="https://i.test", alg="HS256")
                return action(issuer)
            finally:
                issuer.close()

    return run


def _sign_under_another_kek(issuer: Issuer) -> object:
    other = Issuer(str(issuer._store.engine.url), keks=KEKRing.generate())
    try:
        return other.sign("main", {})
    finally:
        other.close()


# A set whose only key (kid k1, on an unsupported curve) was skipped at parse time.
_SKIPPING_SET = JWKSet.from_dict(
    {"keys": [{"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA", "kid": "k1"}]}
)


def _bind_twice() -> None:
    from keywell.server.listeners import bind_listener

    first = bind_listener("127.0.0.1", 0)
    try:
        bind_listener("127.0.0.1", first.getsockname()[1]).close()
    finally:
        first.close()


def _dpop(proof: str | None, token_jkt: str | None, **policy: object) -> Callable[[], object]:
    """Verify a request whose token is bound to ``token_jkt``, with ``proof`` (the client's)."""
    from keywell.jose import DPoPPolicy, HMACNonces, make_proof

    def run() -> object:
        client = JWK.generate("ES256", kid="client")
        claims: dict[str, object] = {"iss": "i", "aud": "a", "exp": NOW + 60}
        if token_jkt is not None:
            claims["cnf"] = {"jkt": token_jkt or client.thumbprint()}
        token = jwt.encode(claims, KEY)
        if "nonces" in policy:
            policy["nonces"] = HMACNonces(b"n" * 32)
        verifier = Verifier(
            KEY.public(),
            issuer="i",
            audience="a",
            clock=lambda: NOW,
            dpop=DPoPPolicy(**policy),  # type: ignore[arg-type]
        )
        value = proof or make_proof(client, "GET", "https://rs.test/", access_token=token, now=NOW)
        for _ in range(2):  # the second time is a replay
            verifier.verify_request("GET", "https://rs.test/", f"DPoP {token}", value)
        return None

    return run


def _dead_store() -> object:
    """A real Redis client aimed at a closed port: the connection is refused."""
    import redis

    from keywell.jose import RedisReplayStore

    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    return RedisReplayStore(client).first_use("k", NOW + 1, NOW)


CASES: dict[type[errors.KeywellError], tuple[str, Callable[[], object]]] = {
    errors.DPoPProofError: ("KW_DPOP_PROOF_INVALID", _dpop("not-a-proof", "")),
    errors.DPoPReplayError: ("KW_DPOP_REPLAY", _dpop(None, "")),
    errors.DPoPNonceError: ("KW_DPOP_NONCE", _dpop(None, "", nonces=True)),
    errors.DPoPBindingError: ("KW_DPOP_BINDING", _dpop(None, None)),
    errors.ReplayStoreError: ("KW_DPOP_REPLAY_STORE", _dead_store),
    errors.MalformedTokenError: ("KW_TOKEN_MALFORMED", lambda: _verify("a.b")),
    errors.TokenTooLargeError: (
        "KW_TOKEN_TOO_LARGE",
        lambda: _verify("x" * 20000),
    ),
    errors.InvalidHeaderError: (
        "KW_HEADER_INVALID",
        lambda: _verify(jwt.encode({"iss": "i", "aud": "a", "exp": NOW + 60}, KEY, {"x5c": "x"})),
    ),
    errors.AlgorithmError: (
        "KW_ALG_DISALLOWED",
        lambda: _verify(_token(), algorithms=["ES384"]),
    ),
    errors.UnsupportedAlgorithmError: (
        "KW_ALG_UNSUPPORTED",
        lambda: _verify("eyJhbGciOiJub25lIn0.e30."),
    ),
    errors.NoMatchingKeyError: (
        "KW_NO_MATCHING_KEY",
        lambda: _verify(_token(), JWKSet([JWK.generate("ES256", kid="other").public()])),
    ),
    errors.SkippedKeyError: (
        "KW_KEY_SKIPPED",
        lambda: Verifier(_SKIPPING_SET, issuer="i", audience="a", clock=lambda: NOW).verify(
            _token()
        ),
    ),
    errors.InvalidSignatureError: (
        "KW_INVALID_SIGNATURE",
        lambda: _verify(_token(), JWK.generate("ES256", kid="k1").public()),
    ),
    errors.ClaimError: ("KW_CLAIM_INVALID", lambda: _verify(_token(aud="b"))),
    errors.ExpiredTokenError: ("KW_TOKEN_EXPIRED", lambda: _verify(_token(exp=NOW - 10))),
    errors.NotYetValidError: ("KW_TOKEN_NOT_YET_VALID", lambda: _verify(_token(nbf=NOW + 99))),
    errors.MissingClaimError: ("KW_CLAIM_MISSING", lambda: _verify(_token(exp=None))),
    errors.InvalidKeyError: (
        "KW_INVALID_KEY",
        lambda: JWK.from_dict({"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}),
    ),
    errors.KeyNotSupportedError: (
        "KW_KEY_NOT_SUPPORTED",
        lambda: JWK.from_dict({"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}),
    ),
    errors.JWKSError: ("KW_JWKS", lambda: JWKSet.from_dict({"keys": "nope"})),
    errors.InvalidInputError: (
        "KW_INVALID_INPUT",
        _on_issuer(lambda i: i.create_keyset("bad\x00name", issuer="https://i.test")),
    ),
    errors.PolicyError: (
        "KW_POLICY_INVALID",
        lambda: keywell.RotationPolicy(rotation_period=timedelta(seconds=-1)),
    ),
    errors.KeySetError: ("KW_KEYSET", _on_issuer(lambda i: i.jwks("private"))),
    errors.KeySetNotFoundError: ("KW_KEYSET_NOT_FOUND", _on_issuer(lambda i: i.get_keyset("x"))),
    errors.KeySetExistsError: (
        "KW_KEYSET_EXISTS",
        _on_issuer(lambda i: i.create_keyset("main", issuer="https://i.test")),
    ),
    errors.KeyNotFoundError: (
        "KW_KEY_NOT_FOUND",
        _on_issuer(lambda i: i.revoke("main", "no-such-kid", "compromised")),
    ),
    errors.KEKError: ("KW_KEK", _on_issuer(_sign_under_another_kek)),
    errors.AddressInUseError: ("KW_ADDRESS_IN_USE", lambda: _bind_twice()),
    errors.CustodyError: (  # the credential file is missing: the backend is never asked
        "KW_CUSTODY",
        _on_issuer(
            lambda i: i.create_keyset(
                "held",
                issuer="https://i.test",
                custody="transit://127.0.0.1:9/transit?token-file=/nonexistent/keywell-token",
            )
        ),
    ),
    errors.AdminTokenNotFoundError: (
        "KW_ADMIN_TOKEN_NOT_FOUND",
        _on_issuer(lambda i: i.revoke_admin_token(token_id=404)),
    ),
}


@pytest.mark.parametrize("cls", list(CASES), ids=lambda c: c.__name__)
def test_error_is_raised_with_its_code(cls: type[errors.KeywellError]) -> None:
    code, action = CASES[cls]
    with pytest.raises(cls) as info:
        action()
    assert type(info.value) is cls
    assert info.value.code == code
    assert isinstance(info.value, keywell.KeywellError)


def test_claim_errors_name_the_claim() -> None:
    with pytest.raises(errors.ClaimError) as info:
        _verify(_token(aud="b"))
    assert (info.value.claim, info.value.reason) == ("aud", "mismatch")
    with pytest.raises(errors.MissingClaimError) as missing:
        _verify(_token(exp=None))
    assert missing.value.claim == "exp"


def test_codes_are_unique() -> None:
    classes = [getattr(errors, n) for n in errors.__all__]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert all(code.startswith("KW_") for code in codes)


def test_every_error_class_is_documented_in_the_tree() -> None:
    doc = errors.__doc__ or ""
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert name in doc, name
        assert cls.code in doc, name
