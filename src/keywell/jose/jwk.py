"""JSON Web Key (RFC 7517), thumbprints (RFC 7638, RFC 9278), key/alg binding (RFC 8725 3.1).

A :class:`JWK` is immutable. It knows which algorithms it may verify and
sign with: exactly its ``alg`` if it has one, else those of its own key type
and curve. ``use`` and ``key_ops`` must agree with each other and with
signing before the key is used for it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from keywell.errors import (
    AlgorithmError,
    InvalidKeyError,
    NoMatchingKeyError,
    UnsupportedAlgorithmError,
)
from keywell.jose._frozen import freeze, thaw
from keywell.jose.algorithms import (
    ALGORITHMS,
    SignFn,
    VerifyFn,
    get_algorithm,
    make_signer,
    make_verifier,
)
from keywell.jose.base64url import b64url_encode, int_to_b64
from keywell.jose.jwk_convert import (
    key_to_members,
    load_der,
    load_pem,
    private_to_bytes,
    public_to_bytes,
)
from keywell.jose.jwk_meta import (
    check_metadata,
    default_alg,
    key_ops_of,
    looks_like_key,
    meta_str,
    usable_algs,
)
from keywell.jose.jwk_parse import CURVES, parse_key_members

__all__ = ["JWK", "WeakKeyWarning", "select_keys"]

# Metadata members a public JWK may carry through to_dict() (RFC 7517 section 4).
_PUBLIC_META = ("x5u", "x5c", "x5t", "x5t#S256")
_KEY_MEMBERS = frozenset(
    {"kty", "crv", "x", "y", "n", "e", "d", "p", "q", "dp", "dq", "qi", "k", "oth"}
)
_STD_MEMBERS = _KEY_MEMBERS | {"kid", "alg", "use", "key_ops", *_PUBLIC_META}
_THUMB_HASHES = {"sha256": "sha-256", "sha384": "sha-384", "sha512": "sha-512"}


class WeakKeyWarning(UserWarning):
    """A key below keywell's minimum strength was accepted because the caller asked."""


class JWK:
    """One JSON Web Key: its members, its ``cryptography`` key, and what it may do.

    Build one with :meth:`from_dict`, :meth:`generate`, :meth:`from_pem`,
    :meth:`from_der`, :meth:`from_key` or :meth:`from_secret`.
    """

    __slots__ = (
        "_alg",
        "_alone",
        "_extra",
        "_key_ops",
        "_kid",
        "_kid_given",
        "_params",
        "_private",
        "_private_params",
        "_public",
        "_quirks",
        "_sign_algs",
        "_signers",
        "_use",
        "_verifiers",
        "_verify_algs",
        "_weak",
    )

    def __init__(self, members: Mapping[str, Any], *, allow_weak_rsa: bool = False) -> None:
        """Parse and validate a JWK given as a mapping; see :meth:`from_dict`."""
        if not isinstance(members, Mapping):
            raise InvalidKeyError("a JWK must be a JSON object")
        parsed = parse_key_members(members, allow_weak_rsa=allow_weak_rsa)
        if parsed.quirks and any(q.startswith("weak RSA") for q in parsed.quirks):
            warnings.warn(
                "accepted an RSA key under 2048 bits for verifying legacy tokens",
                WeakKeyWarning,
                stacklevel=3,
            )
        self._public = parsed.public
        self._private = parsed.private
        self._params = parsed.params
        self._private_params = parsed.private_params
        self._quirks = tuple(parsed.quirks)
        if self._params["kty"] == "RSA":  # canonical form: no leading zero octets
            numbers = self._public.public_numbers()
            self._params = {"e": int_to_b64(numbers.e), "kty": "RSA", "n": int_to_b64(numbers.n)}
        self._alg = meta_str(members, "alg")
        self._use = meta_str(members, "use")
        self._key_ops = key_ops_of(members)
        kid = meta_str(members, "kid")
        self._kid_given = kid is not None
        # The kid defaults to the RFC 7638 thumbprint, except for symmetric keys:
        # a hash of the secret in every token header would let anyone test
        # guesses of a weak secret offline.
        self._kid = kid if kid is not None or self.kty == "oct" else self.thumbprint()
        # Frozen: a JWK never changes, whatever happens to the mapping it came from.
        self._extra = {k: freeze(v) for k, v in members.items() if k not in _STD_MEMBERS}
        for name in _PUBLIC_META:
            if name in members:
                self._extra[name] = freeze(members[name])
        secret_len = len(self._private) if self.kty == "oct" else None
        meta = (self.kty, self.crv, self._alg, self._use, self._key_ops, secret_len)
        check_metadata(*meta)
        self._verify_algs = usable_algs("verify", *meta)
        # A weak RSA key accepted for legacy verification never signs.
        self._weak = any(q.startswith("weak RSA") for q in self._quirks)
        can_sign = self._private is not None and not self._weak
        self._sign_algs = usable_algs("sign", *meta) if can_sign else frozenset()
        self._verifiers: dict[str, VerifyFn] = {}
        self._signers: dict[str, SignFn] = {}
        self._alone = (self,)

    # -- constructors -------------------------------------------------------

    @classmethod
    def from_dict(cls, members: Mapping[str, Any], *, allow_weak_rsa: bool = False) -> JWK:
        """Parse a JWK from its JSON object members.

        ``allow_weak_rsa`` accepts RSA moduli from 512 to 2047 bits, for
        verifying legacy tokens only, with a :class:`WeakKeyWarning`.
        """
        return cls(members, allow_weak_rsa=allow_weak_rsa)

    @classmethod
    def from_json(cls, data: str | bytes, *, allow_weak_rsa: bool = False) -> JWK:
        """Parse a JWK from JSON text."""
        try:
            members = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise InvalidKeyError("JWK is not valid JSON") from None
        return cls(members, allow_weak_rsa=allow_weak_rsa)

    @classmethod
    def from_key(
        cls,
        key: Any,
        *,
        alg: str | None = None,
        kid: str | None = None,
        use: str | None = None,
    ) -> JWK:
        """Wrap a ``cryptography`` public or private key object."""
        members: dict[str, Any] = key_to_members(key)
        for name, value in (("alg", alg), ("kid", kid), ("use", use)):
            if value is not None:
                members[name] = value
        return cls(members)

    @classmethod
    def from_pem(
        cls,
        data: bytes | str,
        *,
        password: bytes | None = None,
        alg: str | None = None,
        kid: str | None = None,
        use: str | None = None,
    ) -> JWK:
        """Load a PEM private key, public key, or a certificate's public key."""
        raw = data.encode() if isinstance(data, str) else data
        return cls.from_key(load_pem(raw, password), alg=alg, kid=kid, use=use)

    @classmethod
    def from_der(
        cls,
        data: bytes,
        *,
        password: bytes | None = None,
        alg: str | None = None,
        kid: str | None = None,
        use: str | None = None,
    ) -> JWK:
        """Load a DER private key, public key, or a certificate's public key."""
        return cls.from_key(load_der(data, password), alg=alg, kid=kid, use=use)

    @classmethod
    def from_secret(cls, secret: bytes, *, alg: str = "HS256", kid: str | None = None) -> JWK:
        """Wrap an HMAC secret; refuses secrets shorter than the hash or that look like keys.

        A PEM block, a certificate or a JWK given as an HMAC secret is the
        classic algorithm-confusion attack; it is refused outright.
        """
        algorithm = get_algorithm(alg)
        if algorithm is None or algorithm.family != "HMAC":
            raise InvalidKeyError(f"{alg} is not an HMAC algorithm")
        if not isinstance(secret, bytes):
            raise TypeError("secret must be bytes")
        if looks_like_key(secret):
            raise InvalidKeyError("that secret is an asymmetric key, a certificate or a JWK")
        if len(secret) * 8 < algorithm.bits:
            raise InvalidKeyError(f"{alg} needs a secret of at least {algorithm.bits // 8} bytes")
        members = {"kty": "oct", "k": b64url_encode(secret), "alg": alg}
        if kid is not None:
            members["kid"] = kid
        return cls(members)

    @classmethod
    def generate(cls, alg: str, *, kid: str | None = None, rsa_bits: int = 2048) -> JWK:
        """Generate a fresh private key for ``alg`` (``use: sig``, ``alg`` set)."""
        algorithm = get_algorithm(alg)
        if algorithm is None:
            raise UnsupportedAlgorithmError(f"unsupported algorithm {alg!r}")
        key: Any
        if algorithm.kty == "RSA":
            if rsa_bits < 2048:
                raise InvalidKeyError("RSA keys must have at least 2048 bits")
            key = rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)
        elif algorithm.kty == "EC":
            key = ec.generate_private_key(CURVES[algorithm.crv or ""][0])
        elif algorithm.kty == "OKP":
            key = (
                ed448.Ed448PrivateKey.generate()
                if algorithm.crv == "Ed448"
                else ed25519.Ed25519PrivateKey.generate()
            )
        else:
            secret = secrets.token_bytes(algorithm.bits // 8)
            return cls(
                {
                    "kty": "oct",
                    "k": b64url_encode(secret),
                    "alg": alg,
                    "kid": kid or secrets.token_urlsafe(12),
                }
            )
        return cls.from_key(key, alg=alg, kid=kid, use="sig")

    # -- properties ---------------------------------------------------------

    @property
    def kty(self) -> str:
        """The key type: ``RSA``, ``EC``, ``OKP`` or ``oct``."""
        return self._params["kty"]

    @property
    def crv(self) -> str | None:
        """The curve for EC and OKP keys."""
        return self._params.get("crv")

    @property
    def kid(self) -> str | None:
        """The key ID (the RFC 7638 thumbprint when none was given, except for oct keys)."""
        return self._kid

    @property
    def alg(self) -> str | None:
        """The algorithm the key is bound to, if any."""
        return self._alg

    @property
    def use(self) -> str | None:
        """The intended use (``sig`` or ``enc``), if given."""
        return self._use

    @property
    def key_ops(self) -> tuple[str, ...] | None:
        """The permitted operations, if given."""
        return self._key_ops

    @property
    def is_private(self) -> bool:
        """Whether the key holds private (or secret) material."""
        return self._private is not None

    @property
    def is_symmetric(self) -> bool:
        """Whether this is a symmetric (``oct``) key."""
        return self.kty == "oct"

    @property
    def kid_given(self) -> bool:
        """Whether ``kid`` came with the key, rather than being derived."""
        return self._kid_given

    @property
    def quirks(self) -> tuple[str, ...]:
        """Non-canonical but accepted details of the source (for linting)."""
        return self._quirks

    @property
    def extra(self) -> Mapping[str, Any]:
        """Members keywell does not interpret (x5c and friends among them)."""
        return {name: thaw(value) for name, value in self._extra.items()}

    @property
    def verify_algorithms(self) -> frozenset[str]:
        """The algorithms this key may verify with."""
        return self._verify_algs

    @property
    def sign_algorithms(self) -> frozenset[str]:
        """The algorithms this key may sign with (empty for a public key)."""
        return self._sign_algs

    @property
    def public_key(self) -> Any:
        """The ``cryptography`` public key object (None for oct keys)."""
        return self._public

    # -- operations ---------------------------------------------------------

    def candidates(self, kid: str | None, alg: str) -> tuple[JWK, ...]:
        """This key, if it may verify ``alg`` for a token with this ``kid``.

        A token kid that differs from a kid given with the key is refused; a
        kid keywell derived (the thumbprint) is not held against the token.
        """
        if alg in self._verify_algs and (kid is None or not self._kid_given or kid == self._kid):
            return self._alone
        if kid is not None and self._kid_given and kid != self._kid:
            return select_keys((), kid, alg)
        return select_keys((self,), kid, alg)

    def verifier(self, alg: str) -> VerifyFn:
        """The verify function for ``alg``; the caller checked ``alg`` is allowed."""
        fn = self._verifiers.get(alg)
        if fn is None:
            algorithm = ALGORITHMS[alg]
            key = self._private if self.kty == "oct" else self._public
            fn = self._verifiers[alg] = make_verifier(algorithm, key)
        return fn

    def signer(self, alg: str | None = None) -> tuple[str, SignFn]:
        """The algorithm and sign function to use; ``alg`` defaults to the key's own."""
        if alg is None:
            alg = self._alg or default_alg(self.kty, self.crv)
        if alg not in self._sign_algs:
            raise InvalidKeyError(f"this key cannot sign with {alg}")
        fn = self._signers.get(alg)
        if fn is None:
            fn = self._signers[alg] = make_signer(ALGORITHMS[alg], self._private)
        return alg, fn

    def thumbprint(self, hash_name: str = "sha256") -> str:
        """The RFC 7638 thumbprint, base64url, over the required members."""
        if hash_name not in _THUMB_HASHES:
            raise ValueError(f"unsupported thumbprint hash {hash_name!r}")
        canonical = json.dumps(self._params, separators=(",", ":"), sort_keys=True)
        return b64url_encode(hashlib.new(hash_name, canonical.encode()).digest())

    def thumbprint_uri(self, hash_name: str = "sha256") -> str:
        """The RFC 9278 thumbprint URI, ``urn:ietf:params:oauth:jwk-thumbprint:sha-256:...``."""
        thumb = self.thumbprint(hash_name)
        return f"urn:ietf:params:oauth:jwk-thumbprint:{_THUMB_HASHES[hash_name]}:{thumb}"

    def to_dict(self, *, private: bool = False) -> dict[str, Any]:
        """The JWK members; private ones only when ``private=True``.

        Unknown members are not emitted: keywell cannot tell whether they are
        safe to publish. A symmetric key has no public form.
        """
        if self.kty == "oct" and not private:
            raise InvalidKeyError("a symmetric key has no public form")
        out: dict[str, Any] = {}
        if self._kid is not None:
            out["kid"] = self._kid
        out.update(self._params)
        if private and self._private is not None:
            out.update(self._private_params)
        for name, value in (("alg", self._alg), ("use", self._use)):
            if value is not None:
                out[name] = value
        if self._key_ops is not None:
            out["key_ops"] = list(self._key_ops)
        for name in _PUBLIC_META:
            if name in self._extra:
                out[name] = thaw(self._extra[name])  # a fresh list: the key stays as it is
        return out

    def to_json(self, *, private: bool = False) -> str:
        """The JWK as compact JSON text."""
        return json.dumps(self.to_dict(private=private), separators=(",", ":"))

    def public(self) -> JWK:
        """The public half of this key (itself if already public)."""
        if self._private is None:
            return self
        if not self._weak:
            return JWK(self.to_dict(private=False))
        with warnings.catch_warnings():  # the caller accepted this weak key already
            warnings.simplefilter("ignore", WeakKeyWarning)
            return JWK(self.to_dict(private=False), allow_weak_rsa=True)

    def to_pem(self, *, private: bool = False, password: bytes | None = None) -> bytes:
        """Export as PEM: SubjectPublicKeyInfo, or PKCS#8 when ``private``."""
        return self._export(serialization.Encoding.PEM, private, password)

    def to_der(self, *, private: bool = False, password: bytes | None = None) -> bytes:
        """Export as DER: SubjectPublicKeyInfo, or PKCS#8 when ``private``."""
        return self._export(serialization.Encoding.DER, private, password)

    def _export(
        self, encoding: serialization.Encoding, private: bool, password: bytes | None
    ) -> bytes:
        if self.kty == "oct":
            raise InvalidKeyError("symmetric keys have no PEM/DER form")
        if private:
            if self._private is None:
                raise InvalidKeyError("this is a public key")
            return private_to_bytes(self._private, encoding, password)
        return public_to_bytes(self._public, encoding)

    # -- dunder -------------------------------------------------------------

    def __repr__(self) -> str:
        """A summary that never shows key material."""
        kind = "private" if self._private is not None else "public"
        crv = f" {self.crv}" if self.crv else ""
        return f"<JWK {self.kty}{crv} {kind} kid={self._kid!r} alg={self._alg!r}>"

    def __eq__(self, other: object) -> bool:
        """Keys are equal when all their members are equal (private ones included)."""
        if not isinstance(other, JWK):
            return NotImplemented
        return self.to_dict(private=True) == other.to_dict(private=True)

    def __hash__(self) -> int:
        """Hash on the thumbprint and kid."""
        return hash((self.thumbprint(), self._kid))


def select_keys(pool: Iterable[JWK], kid: str | None, alg: str) -> tuple[JWK, ...]:
    """Narrow ``pool`` (the keys for this kid) to those that may verify ``alg``, or raise.

    Raises:
        NoMatchingKeyError: the pool is empty.
        AlgorithmError: keys match the kid but none may verify ``alg``.
    """
    pool = tuple(pool)
    if not pool:
        raise NoMatchingKeyError(
            f"no key matches kid {kid[:64]!r}"
            if kid is not None
            else "no key can verify this token"
        )
    found = tuple(k for k in pool if alg in k._verify_algs)
    if not found:
        raise AlgorithmError(f"the matching key does not allow alg {alg}")
    return found


def keys_from(items: Iterable[JWK | Mapping[str, Any]]) -> list[JWK]:
    """Coerce mappings to :class:`JWK` objects."""
    return [k if isinstance(k, JWK) else JWK.from_dict(k) for k in items]
