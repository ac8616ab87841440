"""Verifier: configuration checked at construction, claims and typ rules, sync and async."""

from __future__ import annotations

import time

import pytest

from keywell import JWK, JWKSet, Verifier, errors, jwt

KEY = JWK.generate("EdDSA", kid="ed")
PUB = KEY.public()
NOW = 1_800_000_000.0


def token(typ: str | None = "JWT", **claims: object) -> str:
    body: dict[str, object] = {"iss": "https://a", "aud": ["api", "other"], "exp": NOW + 60}
    body.update(claims)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, KEY, typ=typ)


def verifier(**kw: object) -> Verifier:
    options: dict[str, object] = {"issuer": "https://a", "audience": "api", "clock": lambda: NOW}
    options.update(kw)
    return Verifier(PUB, **options)  # type: ignore[arg-type]


def test_returns_read_only_claims() -> None:
    claims = verifier().verify(token(sub="alice"))
    assert claims["sub"] == "alice"
    with pytest.raises(TypeError):
        claims["sub"] = "mallory"  # type: ignore[index]


def test_issuer_and_audience_must_be_named() -> None:
    with pytest.raises(TypeError):
        Verifier(PUB)  # type: ignore[call-arg]
    claims = Verifier(PUB, issuer=None, audience=None, clock=lambda: NOW).verify(token(iss=None))
    assert "iss" not in claims


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"algorithms": ["none"]}, ValueError),
        ({"algorithms": []}, ValueError),
        ({"leeway": -1}, ValueError),
        ({"max_age": 0}, ValueError),
        ({"max_size": 0}, ValueError),
        ({"issuer": ""}, ValueError),
        ({"audience": [1]}, ValueError),
    ],
)
def test_misuse_is_refused_at_construction(kwargs: dict[str, object], exc: type) -> None:
    with pytest.raises(exc):
        verifier(**kwargs)


def test_keys_must_be_a_key_source() -> None:
    with pytest.raises(TypeError):
        Verifier({"kty": "OKP"}, issuer="i", audience="a")  # type: ignore[arg-type]


def test_leeway_applies_to_exp_and_nbf() -> None:
    late = token(exp=NOW - 5)
    with pytest.raises(errors.ExpiredTokenError):
        verifier().verify(late)
    assert verifier(leeway=10).verify(late)["exp"] == NOW - 5
    early = token(nbf=NOW + 5)
    with pytest.raises(errors.NotYetValidError):
        verifier().verify(early)
    assert verifier(leeway=10).verify(early)["nbf"] == NOW + 5


def test_exp_boundary_is_exclusive() -> None:
    with pytest.raises(errors.ExpiredTokenError):
        verifier().verify(token(exp=NOW))


def test_max_age_uses_iat() -> None:
    with pytest.raises(errors.MissingClaimError) as missing:
        verifier(max_age=60).verify(token())
    assert missing.value.claim == "iat"
    with pytest.raises(errors.ExpiredTokenError) as old:
        verifier(max_age=60).verify(token(iat=NOW - 120))
    assert old.value.claim == "iat"
    assert verifier(max_age=60).verify(token(iat=NOW - 30))["iat"] == NOW - 30


def test_typ_at_jwt_rfc9068() -> None:
    strict = verifier(typ="at+jwt")
    assert strict.verify(token(typ="at+jwt"))
    assert strict.verify(token(typ="application/at+JWT"))
    with pytest.raises(errors.ClaimError) as info:
        strict.verify(token(typ="JWT"))
    assert info.value.claim == "typ"


def test_several_issuers_and_audiences() -> None:
    v = verifier(issuer=["https://a", "https://b"], audience=["x", "other"])
    assert v.verify(token())["iss"] == "https://a"


@pytest.mark.parametrize(
    ("claims", "claim"),
    [
        ({"exp": "soon"}, "exp"),
        ({"exp": True}, "exp"),
        ({"nbf": [1]}, "nbf"),
        ({"aud": 5}, "aud"),
        ({"aud": []}, "aud"),
        ({"iss": ["https://a"]}, "iss"),
        ({"sub": 7}, "sub"),
        ({"jti": {}}, "jti"),
        ({"exp": 10**400}, "exp"),  # would overflow float arithmetic
        ({"nbf": -(10**400)}, "nbf"),
        ({"iat": 2**53 + 1}, "iat"),
    ],
)
def test_claim_types_are_checked(claims: dict[str, object], claim: str) -> None:
    with pytest.raises(errors.ClaimError) as info:
        verifier().verify(token(**claims))
    assert info.value.claim == claim
    assert info.value.reason == "type"


def test_real_clock_by_default() -> None:
    fresh = jwt.encode({"iss": "i", "aud": "a", "exp": time.time() + 30}, KEY)
    assert Verifier(PUB, issuer="i", audience="a").verify(fresh)["iss"] == "i"


class _AsyncSource:
    """A key source whose lookups need I/O, as a remote set's do."""

    def __init__(self, keys: JWKSet) -> None:
        self.keys = keys
        self.async_calls = 0

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        return self.keys.candidates(kid, alg)

    async def acandidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        self.async_calls += 1
        return self.keys.candidates(kid, alg)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_averify_uses_the_async_lookup() -> None:
    source = _AsyncSource(JWKSet([PUB]))
    v = Verifier(source, issuer="https://a", audience="api", clock=lambda: NOW)
    claims = await v.averify(token())
    assert claims["iss"] == "https://a"
    assert source.async_calls == 1
    with pytest.raises(errors.InvalidSignatureError):
        await v.averify(token()[:-4] + "AAAA")


def test_repr_shows_rules_not_keys() -> None:
    text = repr(verifier())
    assert "https://a" in text
    assert "api" in text
    assert KEY.to_dict(private=True)["d"] not in text
