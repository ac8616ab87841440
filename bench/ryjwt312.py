"""keywell against ryjwt (Rust-backed, Python >= 3.12 only), cold and on the API mix.

ryjwt cannot be installed in the project's 3.11 environment, so this runs from
a Python 3.12 virtual environment holding ryjwt, cryptography, PyNaCl and
keywell (editable, no other extra)::

    python3.12 -m venv /tmp/venv312 && /tmp/venv312/bin/pip install ryjwt pynacl
    /tmp/venv312/bin/pip install --no-deps -e . && /tmp/venv312/bin/pip install cryptography
    /tmp/venv312/bin/python bench/ryjwt312.py

Cold: each call takes the next of 12,000 distinct tokens (keywell's cache is
cleared whenever the stream starts over, so it never hits); interleaved
rounds of ~10 ms batches, thread CPU time, medians; ``raw`` is split +
base64url + the ``cryptography`` verify + ``json.loads``. The API mix is
bench/_apimix.py's. ryjwt checks ``exp`` only when present (it has no
"require" option); keywell requires it.
"""

from __future__ import annotations

import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ryjwt

import _apimix as apimix
import keywell
from keywell import jwt

ISS, AUD = "https://issuer.example.com", "api://bench"
ALGS = ("RS256", "ES256", "EdDSA", "HS256")
SHA256 = hashes.SHA256()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def raw_verifier(alg: str, key: Any) -> Callable[[str], Any]:
    if alg == "HS256":
        keyed = hmac.HMAC(key, SHA256)

        def verify_hs(token: str) -> Any:
            h, p, s = token.split(".")
            mac = keyed.copy()
            mac.update(f"{h}.{p}".encode())
            mac.verify(b64d(s))
            return json.loads(b64d(p))

        return verify_hs
    pub = key.public_key()

    def verify(token: str) -> Any:
        h, p, s = token.split(".")
        sig, data = b64d(s), f"{h}.{p}".encode()
        if alg == "RS256":
            pub.verify(sig, data, padding.PKCS1v15(), SHA256)
        elif alg == "ES256":
            r, t = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
            pub.verify(encode_dss_signature(r, t), data, ec.ECDSA(SHA256))
        else:
            pub.verify(sig, data)
        return json.loads(b64d(p))

    return verify


def fixture(alg: str, now: int) -> SimpleNamespace:
    if alg == "HS256":
        secret = b"k" * 32
        private = keywell.JWK.from_secret(secret, kid="k1")
        public, key = private, secret
        ry: Any = ryjwt.SecretKey(secret, algorithms=["HS256"], audience=AUD, issuer=ISS)
    else:
        key = {
            "RS256": lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ES256": lambda: ec.generate_private_key(ec.SECP256R1()),
            "EdDSA": ed25519.Ed25519PrivateKey.generate,
        }[alg]()
        private = keywell.JWK.from_key(key, kid="k1", alg=alg)
        public = private.public()
        pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        ry = ryjwt.PublicKey(pem, algorithms=[alg], audience=AUD, issuer=ISS)
    base = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 86400, "scope": "read"}
    stream = [
        jwt.encode({**base, "sub": f"user-{i:06d}", "jti": f"{i:016x}"}, private)
        for i in range(12_000)
    ]
    return SimpleNamespace(alg=alg, stream=stream, public=public, ry=ry, raw=raw_verifier(alg, key))


def builders() -> dict[str, apimix.Builder]:
    return {
        "raw": lambda fx: fx.raw,
        "keywell": lambda fx: keywell.Verifier(fx.public, issuer=ISS, audience=AUD).verify,
        "ryjwt": lambda fx: fx.ry.decode,
    }


def cold(fx: SimpleNamespace, rounds: int = 15, batch: float = 0.01) -> dict[str, float]:
    """Median ns per cold verification, per library."""
    made = {lib: build(fx) for lib, build in builders().items()}
    samples: dict[str, list[float]] = {lib: [] for lib in made}
    positions = dict.fromkeys(made, 0)
    stream = fx.stream
    for lib, verify in made.items():  # sanity: the claims, and a tampered token refused
        assert verify(stream[0])["sub"] == "user-000000"
        bad = stream[1][:-3] + ("AAA" if not stream[1].endswith("AAA") else "BBB")
        try:
            verify(bad)
        except Exception:  # noqa: S110 - each library raises its own type
            pass
        else:
            raise AssertionError(f"{lib} accepted a tampered token")
    per_batch = {lib: max(1, int(batch / 30e-6)) for lib in made}
    for rnd in range(rounds):
        order = list(made) if rnd % 2 == 0 else list(reversed(made))
        for lib in order:
            verify, n, i = made[lib], per_batch[lib], positions[lib]
            owner = getattr(verify, "__self__", None)
            t0 = time.thread_time_ns()
            for _ in range(n):
                if i == len(stream):
                    i = 0
                    if isinstance(owner, keywell.Verifier):
                        owner.clear_cache()
                verify(stream[i])
                i += 1
            samples[lib].append((time.thread_time_ns() - t0) / n)
            positions[lib] = i
            if rnd == 0:  # calibrate the batch to ~``batch`` seconds
                per_batch[lib] = max(1, int(batch * 1e9 / samples[lib][-1]))
                samples[lib].clear()
    return {lib: statistics.median(v) for lib, v in samples.items()}


def main() -> int:
    now = int(time.time())
    vers = {d: metadata.version(d) for d in ("keywell", "cryptography", "PyNaCl", "ryjwt")}
    print(f"CPython {sys.version.split()[0]}; " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    print("\n| alg | raw µs | keywell cold | ryjwt cold | API mix keywell µs | ryjwt µs | lead |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for alg in ALGS:
        fx = fixture(alg, now)
        c = cold(fx)
        samples = apimix.run({alg: fx}, builders(), rounds=3)
        mix = {lib: statistics.median(samples[alg, lib]) / 1000 for lib in builders()}
        print(
            f"| {alg} | {c['raw'] / 1000:.1f} | {c['raw'] / c['keywell']:.2f}x | "
            f"{c['raw'] / c['ryjwt']:.2f}x | {mix['keywell']:.2f} | {mix['ryjwt']:.2f} | "
            f"**{mix['ryjwt'] / mix['keywell']:.1f}x** |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
