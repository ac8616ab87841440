"""PKCS#11 custody: keys generated in an HSM token that never leave it (needs ``keywell[pkcs11]``).

URI (RFC 7512 style; see :mod:`keywell.custody.uri`)::

    pkcs11:token=LABEL;object-prefix=P?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/pin

``slot-id``, ``serial``, ``manufacturer`` and ``model`` narrow the token when
labels repeat. The user PIN is read from ``pin-source`` (``file:`` or ``env:``).

Keys are made with ``C_GenerateKeyPair`` as token objects: the private key has
``CKA_TOKEN``, ``CKA_PRIVATE`` and ``CKA_SENSITIVE`` true, ``CKA_EXTRACTABLE``
false (PKCS#11 v2.40 section 4.9) and may only sign; both halves carry the
label ``object-prefix + key_name(keyset)`` and a random 16-byte ``CKA_ID``,
whose hex is the reference the store keeps. The public JWK is read back from
the token (``CKA_MODULUS``/``CKA_PUBLIC_EXPONENT``, ``CKA_EC_POINT``).

Signing (RFC 7518 section 3): RS* with ``CKM_SHA*_RSA_PKCS``; PS* with
``CKM_SHA*_RSA_PKCS_PSS``, MGF1 of the same hash and a salt as long as the
hash (section 3.5); ES* hashes in ``cryptography`` and signs the digest with
``CKM_ECDSA``, whose output is already JOSE's raw ``r || s`` (PKCS#11 v2.40
section 2.3.1; section 3.4); EdDSA (Ed25519, RFC 8037) with ``CKM_EDDSA``, which
SoftHSM2 2.6 implements. Threads, time bounds and token loss are handled in
:mod:`keywell.custody.pkcs11_module`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

import pkcs11
from cryptography.hazmat.primitives import hashes
from pkcs11 import Attribute, ObjectClass

from keywell.custody.base import Custody, CustodyKey, SignFn, key_name, key_name_time, public_jwk
from keywell.custody.pkcs11_keys import ALGORITHMS, keygen, public_key, sign_args
from keywell.custody.pkcs11_module import (
    GONE,
    Login,
    Module,
    PinMismatch,
    TokenSelector,
    module_for,
)
from keywell.custody.uri import CustodySpec, read_credential
from keywell.errors import CustodyError

__all__ = ["PKCS11Custody"]

T = TypeVar("T")
_PIN_REFUSED: tuple[type[pkcs11.PKCS11Error], ...] = (
    pkcs11.PinIncorrect,
    pkcs11.PinInvalid,
    pkcs11.PinLenRange,
    pkcs11.PinLocked,
    pkcs11.PinExpired,
)
_HANDLE_STALE = (pkcs11.ObjectHandleInvalid, pkcs11.KeyHandleInvalid)
_KEY_CLASSES = (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)


class _KeyGone(Exception):
    pass


class PKCS11Custody(Custody):
    """Keys in a PKCS#11 token (an HSM, SoftHSM2); see the module docstring."""

    scheme = "pkcs11"
    algorithms = ALGORITHMS

    def __init__(self, spec: CustodySpec, selector: TokenSelector, pin: str) -> None:
        super().__init__(spec.uri, timeout=spec.timeout)
        self._pin_source = spec.query["pin-source"]
        self._pin = pin
        self._refused: str | None = None  # a PIN the token refused: never presented again
        self._prefix = spec.attrs.get("object-prefix", "")
        self._selector = selector
        self._module_path = spec.query["module-path"]
        self._module.acquire(selector)

    @property
    def _module(self) -> Module:
        # Looked up per call: after a fork the child gets its own Module (and worker).
        return module_for(self._module_path)

    @classmethod
    def from_spec(cls, spec: CustodySpec) -> PKCS11Custody:
        """Read the PIN and name the token; the module is loaded and logged in on first use.

        Raises:
            CustodyError: (``open``) no PIN at ``pin-source``, no module file at an
                absolute ``module-path``, or a bad ``slot-id``.
        """
        attrs = spec.attrs
        slot = attrs.get("slot-id")
        if slot is not None and not slot.isdigit():
            raise CustodyError(
                "pkcs11 custody: open failed: slot-id must be a decimal number",
                backend="pkcs11",
                operation="open",
            )
        selector = TokenSelector(
            label=attrs["token"],
            slot_id=None if slot is None else int(slot),
            serial=attrs.get("serial"),
            manufacturer=attrs.get("manufacturer"),
            model=attrs.get("model"),
        )
        module = spec.query["module-path"]
        if os.path.isabs(module) and not os.path.isfile(module):
            raise CustodyError(
                f"pkcs11 custody: open failed: no PKCS#11 module at {module!r}",
                backend="pkcs11",
                operation="open",
            )
        pin = read_credential(spec.query["pin-source"], backend="pkcs11")
        return cls(spec, selector, pin)

    # -- the contract ----------------------------------------------------------------------

    def generate(self, alg: str, *, keyset: str, rsa_bits: int = 2048) -> CustodyKey:
        """Make a non-extractable key pair for ``alg`` in the token; ``ref`` is hex ``CKA_ID``."""
        self.check_algorithm(alg)
        ident = secrets.token_bytes(16)
        label = self._prefix + key_name(keyset)

        def body(login: Login) -> CustodyKey:
            public, _ = keygen(login.session, alg, ident, label, rsa_bits)
            return CustodyKey(ident.hex(), public_jwk(public_key(public, alg), alg))

        return self._call("generate", body)

    def signer(self, ref: str, alg: str) -> SignFn:
        """Sign with the private key ``ref``; its handle is looked up once per session."""
        if alg not in self.algorithms:
            raise self.error("sign", f"{alg} is not supported here")
        ident = self._ident(ref, "sign")
        mechanism, param, digest = sign_args(alg)

        def sign(data: bytes) -> bytes:
            message = _digest(digest, data) if digest is not None else data

            def body(login: Login) -> bytes:
                key = login.handles.get(ref)
                if key is None:
                    key = self._find_private(login, ident)
                    login.handles[ref] = key
                try:
                    return bytes(key.sign(message, mechanism=mechanism, mechanism_param=param))
                except _HANDLE_STALE:
                    login.handles.pop(ref, None)
                    raise

            return self._call("sign", body, ref=ref)

        return sign

    def destroy(self, ref: str) -> None:
        """Delete the private and public objects with ``CKA_ID`` ``ref``; none left is fine."""
        ident = self._ident(ref, "destroy")

        def body(login: Login) -> None:
            login.handles.pop(ref, None)
            found = False
            for cls in _KEY_CLASSES:
                for obj in list(
                    login.session.get_objects({Attribute.CLASS: cls, Attribute.ID: ident})
                ):
                    if str(obj[Attribute.LABEL]).startswith(self._prefix):
                        obj.destroy()
                        found = True
            if not found:  # "already gone", or an absent token listing no objects: tell them apart
                self._module.find(self._selector)

        self._call("destroy", body)

    def refs(self, keyset: str) -> dict[str, str]:
        """Every key object of ``keyset`` under this URI's ``object-prefix``: hex id -> name."""

        def body(login: Login) -> dict[str, str]:
            found: dict[str, str] = {}
            for cls in _KEY_CLASSES:
                for obj in login.session.get_objects({Attribute.CLASS: cls}):
                    label = str(obj[Attribute.LABEL])
                    name = label[len(self._prefix) :]
                    if label.startswith(self._prefix) and key_name_time(name, keyset) is not None:
                        found[bytes(obj[Attribute.ID]).hex()] = name
            return found

        return self._call("refs", body)

    def check(self) -> None:
        """Log in (once) and ask the module for the token: fails while it is absent."""

        def body(login: Login) -> None:
            self._module.find(self._selector)

        self._call("check", body)

    def close(self) -> None:
        """Give up this custody's use of the token (the last user logs out)."""
        self._module.release(self._selector, self.timeout)

    # -- plumbing --------------------------------------------------------------------------

    def _ident(self, ref: str, operation: str) -> bytes:
        try:
            ident = bytes.fromhex(ref)
        except ValueError:
            ident = b""
        if len(ident) != 16:
            raise self.error(operation, "a reference is 32 hex digits (a CKA_ID)")
        return ident

    def _find_private(self, login: Login, ident: bytes) -> Any:
        for obj in login.session.get_objects(
            {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: ident}
        ):
            if str(obj[Attribute.LABEL]).startswith(self._prefix):
                return obj
        # No such key: tell "deleted" from "token gone" (an absent token lists no objects).
        self._module.find(self._selector)
        raise _KeyGone

    def _pin_now(self) -> str:
        """The PIN to present; one the token refused is never presented again (no lockout)."""
        if self._refused is not None:
            fresh = read_credential(self._pin_source, backend="pkcs11")
            if fresh == self._refused:
                raise _PinStillRefused
            self._pin, self._refused = fresh, None
        return self._pin

    def _call(self, operation: str, body: Callable[[Login], T], ref: str = "") -> T:
        """Run ``body`` on the module's worker within ``timeout``; map every failure."""
        module = self._module

        def task() -> T:
            pin = self._pin_now()
            for attempt in (1, 2):
                try:
                    return body(module.login(self._selector, pin))
                except _PIN_REFUSED:
                    self._refused = pin
                    raise
                except _HANDLE_STALE:  # a cached key handle outlived its object: look again
                    if attempt == 2:
                        raise
                except GONE:  # the session, token or module went away: re-initialise
                    if attempt == 2:
                        raise
                    module.invalidate()
            raise AssertionError("unreachable")  # pragma: no cover

        try:
            return module.submit(task, self.timeout)
        except TimeoutError:
            raise self.error(
                operation, f"no answer from the token within {self.timeout:g} s"
            ) from None
        except (_PinStillRefused, PinMismatch):
            raise self.error(operation, "the token refused the PIN") from None
        except _PIN_REFUSED:
            raise self.error(operation, "the token refused the PIN") from None
        except _KeyGone:
            raise self.error(operation, f"no key {ref} in the token (deleted?)") from None
        except pkcs11.PKCS11Error as exc:
            raise self.error(operation, _describe(exc)) from None
        except ValueError:  # the token's public key attributes do not make a key of alg
            raise self.error(operation, "the token returned a malformed public key") from None
        except CustodyError:
            raise
        except Exception as exc:  # a python-pkcs11 surprise: still typed, and chained for debugging
            raise self.error(operation, f"unexpected {type(exc).__name__}") from exc


class _PinStillRefused(Exception):
    pass


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize()


def _describe(exc: pkcs11.PKCS11Error) -> str:
    """The PKCS#11 error's name; python-pkcs11 messages never hold the PIN, but are not shown."""
    name = type(exc).__name__
    if isinstance(exc, GONE):
        return f"the token is not available ({name})"
    return f"the token answered {name}"
