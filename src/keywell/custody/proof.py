"""Proof that a backend key is the one its public JWK describes, before it is trusted.

A backend's answers are checked for shape (a PEM of the right curve, a
signature of the right length), but shape cannot tell that the public key it
described is the key that signs: a misbehaving proxy, a key replaced behind
keywell's back, or a buggy backend would give a published key no token
verifies under. So, each rule here once:

* :func:`generate_proven`: a key made in a backend signs a probe, verified
  under the public JWK the backend returned, before any row names it; a key
  that fails is destroyed and the generation is a :class:`CustodyError`;
* :func:`proven_signer`: a signer's first signature is verified under the
  published public JWK (signers are reloaded with the signer cache, so the
  proof is renewed); one that does not verify is a :class:`CustodyError`
  (operation ``sign``) and the token is never returned.

Verification uses ``cryptography`` through :meth:`keywell.jose.jwk.JWK.verifier`.
"""

from __future__ import annotations

import contextlib
import threading

from keywell.custody.base import Custody, CustodyKey, SignFn
from keywell.errors import CustodyError, KeywellError
from keywell.jose.jwk import JWK

__all__ = ["PROBE", "generate_proven", "proven_signer"]

#: The signing input a new backend key signs to prove it matches its public JWK.
PROBE = b"keywell.custody.proof-of-possession"


def proven_signer(custody: Custody, ref: str, public: JWK, alg: str) -> SignFn:
    """``custody.signer(ref, alg)`` whose first signature is verified under ``public``.

    Raises:
        CustodyError: (operation ``sign``, from the returned function) the
            backend failed, or its signature does not verify under ``public``.
    """
    sign = custody.signer(ref, alg)
    try:
        verify = public.verifier(alg)
    except (KeywellError, ValueError, TypeError):
        raise custody.error("sign", f"key {ref}: its public JWK cannot verify {alg}") from None
    proven = threading.Event()

    def sign_proven(data: bytes) -> bytes:
        signature = sign(data)
        if not proven.is_set():
            try:
                verify(data, signature)
            except (KeywellError, ValueError, TypeError):
                raise custody.error(
                    "sign", f"key {ref}: the signature does not verify under its public key"
                ) from None
            proven.set()
        return signature

    return sign_proven


def generate_proven(custody: Custody, alg: str, *, keyset: str, rsa_bits: int) -> CustodyKey:
    """``custody.generate(...)``, then a probe signed and verified under the returned public JWK.

    Raises:
        CustodyError: (operation ``generate``) the backend failed, or the new
            key's signature does not verify under its public JWK (the key is
            destroyed, best effort; else reconciliation finds it by its name).
    """
    key = custody.generate(alg, keyset=keyset, rsa_bits=rsa_bits)
    try:
        proven_signer(custody, key.ref, key.public, alg)(PROBE)
    except CustodyError as exc:
        with contextlib.suppress(CustodyError):
            custody.destroy(key.ref)
        raise custody.error("generate", f"the new key failed its proof: {exc}") from None
    return key
