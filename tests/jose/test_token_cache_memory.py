"""The verified-token cache's memory, measured with tracemalloc.

- 10,000 typical access tokens fit the default bounds in under 20 MB;
- whatever the payload's shape, the bytes the cache counts are at least the
  bytes it really holds, so ``cache_bytes`` is a true bound.
"""

from __future__ import annotations

import gc
import tracemalloc
from typing import Any

import pytest

from keywell import JWK, Verifier, jwt

KEY = JWK.from_secret(b"m" * 32, kid="m")
NOW = 1_800_000_000


def measure(
    tokens: list[bytes], issuer: str = "i", audience: str = "a", **kw: Any
) -> tuple[Verifier, int]:
    """Verify each token once; the bytes still allocated afterwards (token text included)."""
    v = Verifier(KEY, issuer=issuer, audience=audience, clock=lambda: NOW, **kw)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for raw in tokens:
            v.verify(raw.decode())  # the text is allocated here, as a request's would be
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    return v, used


ISS = "https://login.example.com/realms/main"
AUD = "https://api.example.com/orders"


def typical(i: int) -> dict[str, Any]:
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": f"user-{i:08d}",
        "exp": NOW + 3600,
        "iat": NOW,
        "jti": f"{i:032x}",
        "scope": "openid profile orders:read orders:write",
        "azp": "web-frontend",
        "client_id": "web-frontend",
    }


def test_about_ten_thousand_typical_tokens_fit_under_20_mb() -> None:
    """Default bounds: 10,000 entries, 19 MiB counted.

    The token text dominates: 10,000 tokens of six claims (about 330
    characters with these URLs) fit; of the 470-character tokens with nine
    claims, about 8,600 (the real memory per entry is ~2.1 kB, the counted
    ~2.3 kB).
    """
    tokens = [jwt.encode(typical(i), KEY).encode() for i in range(10_000)]
    v, used = measure(tokens, ISS, AUD)
    h = v.health()
    assert h.entries >= 8_000
    assert used < 20_000_000
    assert h.bytes >= used
    six = ("iss", "aud", "sub", "exp", "iat", "jti")
    small = [jwt.encode({k: typical(i)[k] for k in six}, KEY).encode() for i in range(10_000)]
    v, used = measure(small, ISS, AUD)
    assert len(small[0]) >= 300
    assert v.health().entries == 10_000
    assert used < 20_000_000


def shape(name: str, i: int) -> dict[str, Any]:
    base: dict[str, Any] = {"iss": "i", "aud": "a", "exp": NOW + 60, "n": i}
    extra: dict[str, Any] = {
        "tiny": {},
        "many-ints": {f"c{j}": j for j in range(40)},
        "many-strings": {f"c{j}": f"v{j}" for j in range(40)},
        "floats": {f"f{j}": j + 0.5 for j in range(30)},
        "long-string": {"x": "y" * 4000},
        "string-list": {"roles": [f"r{j}" for j in range(40)]},
        "int-list": {"l": list(range(100))},
        "deep": {"o": {"a": {"b": {"c": [1, {"d": 2}]}}}},
        "empty-objects": {f"o{j}": {} for j in range(30)},
        "empty-lists": {"l": [[] for _ in range(50)]},
        "audience-list": {"aud": ["a", "b", "c"]},
    }[name]
    return base | extra


SHAPES = [
    "tiny",
    "many-ints",
    "many-strings",
    "floats",
    "long-string",
    "string-list",
    "int-list",
    "deep",
    "empty-objects",
    "empty-lists",
    "audience-list",
]


@pytest.mark.parametrize("name", SHAPES)
def test_the_counted_bytes_bound_the_real_ones(name: str) -> None:
    tokens = [jwt.encode(shape(name, i), KEY).encode() for i in range(500)]
    v, used = measure(tokens, cache_bytes=10**9)
    h = v.health()
    assert h.entries == 500
    assert h.bytes >= used, f"{name}: counted {h.bytes}, measured {used}"


def test_the_byte_bound_holds_in_real_memory() -> None:
    tokens = [jwt.encode(shape("many-strings", i), KEY).encode() for i in range(2000)]
    v, used = measure(tokens, cache_bytes=1_000_000)
    assert v.health().evictions > 0
    assert used <= 1_000_000
