"""HashiCorp Vault / OpenBao Transit custody: keys generated and used inside Transit.

URI: ``transit://HOST:PORT/MOUNT?token-file=PATH`` (or ``token-env=NAME``;
optional ``ca-file=PATH``, ``namespace=NS``, ``timeout=SECONDS``). Plain http
is used only for a loopback host without ``ca-file``
(:func:`keywell.lifecycle.names.is_loopback`); any other host is spoken to over
https, verified against ``ca-file`` or the system roots. Redirects are never
followed: the token travels in ``X-Vault-Token``.

Keys are made with ``exportable=false`` and ``allow_plaintext_backup=false``
(``POST /MOUNT/keys/NAME``) and named by :func:`keywell.custody.base.key_name`;
the name is the reference the store keeps. Signing pins ``key_version=1``, so
a key rotated behind keywell's back never signs with an unpublished version;
the parameters per algorithm are in :mod:`keywell.custody.transit_wire`, the
clients, the token and the error boundary in :mod:`keywell.custody.transit_session`.

Every failure (Vault's refusal, a transport error, a timeout, an answer of
another shape) is a :class:`keywell.errors.CustodyError` naming the operation,
never the token.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import hvac.exceptions

from keywell.custody import transit_wire as wire
from keywell.custody.base import Custody, CustodyKey, SignFn, key_name, key_name_time, public_jwk
from keywell.custody.transit_session import TransitSession
from keywell.custody.uri import CustodySpec
from keywell.errors import CustodyError
from keywell.lifecycle.names import is_loopback

__all__ = ["TransitCustody"]

T = TypeVar("T")

_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")


class TransitCustody(Custody):
    """Keys in a Vault or OpenBao Transit mount, driven through ``hvac``.

    Every request is bounded by ``timeout`` seconds (to connect, and for each
    read of the answer).
    """

    scheme = "transit"
    algorithms = wire.ALGORITHMS

    def __init__(
        self,
        uri: str,
        *,
        timeout: float,
        url: str,
        mount: str,
        token_source: str,
        verify: bool | str,
        namespace: str | None,
    ) -> None:
        super().__init__(uri, timeout=timeout)
        self.mount = mount
        self.session = TransitSession(
            url=url,
            token_source=token_source,
            verify=verify,
            namespace=namespace,
            timeout=timeout,
            error=self.error,
        )

    @property
    def url(self) -> str:
        """The Vault server's base URL (``http`` only on loopback)."""
        return self.session.url

    @classmethod
    def from_spec(cls, spec: CustodySpec) -> TransitCustody:
        """Open ``transit://host:port/mount?...``: reads the token, contacts nothing.

        The token is read again when Vault refuses it (403) and its file or
        variable now holds another one (Vault Agent writing a new token).

        Raises:
            CustodyError: (operation ``open``) no token source or two; the token
                missing, empty, or not printable ASCII without spaces; the
                ``ca-file`` not a file.
        """
        sources = [f"file:{spec.query['token-file']}"] if "token-file" in spec.query else []
        sources += [f"env:{spec.query['token-env']}"] if "token-env" in spec.query else []
        if len(sources) != 1:
            raise CustodyError(
                "transit custody: name the token with exactly one of token-file= or token-env=",
                backend=cls.scheme,
                operation="open",
            )
        host, port, ca_file = spec.attrs["host"], spec.attrs["port"], spec.query.get("ca-file")
        if ca_file is not None and not os.path.isfile(ca_file):
            raise CustodyError(
                f"transit custody: the ca-file {ca_file!r} is not a readable file",
                backend=cls.scheme,
                operation="open",
            )
        plain = is_loopback(host) and ca_file is None
        return cls(
            spec.uri,
            timeout=spec.timeout,
            url=f"{'http' if plain else 'https'}://{host}:{port}",
            mount=spec.attrs["mount"],
            token_source=sources[0],
            verify=ca_file if ca_file is not None else True,
            namespace=spec.query.get("namespace"),
        )

    def generate(self, alg: str, *, keyset: str, rsa_bits: int = 2048) -> CustodyKey:
        """Create a non-exportable Transit key for ``alg``; its name is the ref.

        Raises:
            CustodyError: (``generate``) ``alg`` or ``rsa_bits`` (2048, 3072,
                4096) not available; Vault refused or was not reached; the key
                Vault describes is not the one asked for.
        """
        self.check_algorithm(alg)
        if alg in ("RS256", "PS256") and rsa_bits not in wire.RSA_BITS:
            raise self.error("generate", f"RSA keys are {wire.RSA_BITS} bits here, not {rsa_bits}")
        kind = wire.key_type(alg, rsa_bits)
        name = key_name(keyset)
        made = self._call(
            "generate",
            lambda t: t.create_key(
                name,
                key_type=kind,
                exportable=False,
                allow_plaintext_backup=False,
                mount_point=self.mount,
            ),
        )
        try:
            # OpenBao and recent Vault describe the new key; older Vault answers 204.
            data = made.get("data") if isinstance(made, dict) else None
            if not isinstance(data, dict) or "keys" not in data:
                data = self._read(name, "generate").get("data")
            try:
                key = wire.public_key(data, kind)
            except ValueError as exc:
                raise self.error("generate", f"key {name}: {exc}") from None
            return CustodyKey(name, public_jwk(key, alg))
        except CustodyError:
            # Best effort: a key left here (Vault unreachable now) is an orphan found by its name.
            with contextlib.suppress(CustodyError):
                self.destroy(name)
            raise

    def signer(self, ref: str, alg: str) -> SignFn:
        """Sign with Transit key ``ref`` (version 1); returns the JOSE signature.

        The first call reads the key and checks its type fits ``alg``.

        Raises:
            CustodyError: (``sign``) a bad ``ref`` or ``alg``; the key gone or of
                another type; Vault refused or was not reached; a signature not
                of ``alg``'s JOSE form and length.
        """
        self._check_ref(ref, "sign")
        if alg not in self.algorithms:
            raise self.error("sign", f"{alg} is not supported here")
        params = wire.sign_params(alg)
        checked = threading.Event()

        def sign(data: bytes) -> bytes:
            if not checked.is_set():
                found = self._read(ref, "sign").get("data", {}).get("type")
                if not wire.type_fits(found, alg):
                    raise self.error("sign", f"key {ref} is of type {found!r}, not one for {alg}")
                checked.set()
            answer = self._call(
                "sign",
                lambda t: t.sign_data(
                    ref,
                    hash_input=base64.b64encode(data).decode("ascii"),
                    key_version=1,
                    mount_point=self.mount,
                    **params,
                ),
            )
            try:
                return wire.signature(answer, alg)
            except ValueError as exc:
                raise self.error("sign", f"key {ref}: {exc}") from None

        return sign

    def destroy(self, ref: str) -> None:
        """Allow deletion of ``ref``, then delete it; a key already gone is no error.

        Raises:
            CustodyError: (``destroy``) a bad ``ref``; Vault refused or was not reached.
        """
        self._check_ref(ref, "destroy")

        def run(transit: Any) -> None:
            try:
                transit.update_key_configuration(ref, deletion_allowed=True, mount_point=self.mount)
                transit.delete_key(ref, mount_point=self.mount)
            except (hvac.exceptions.InvalidRequest, hvac.exceptions.InvalidPath):
                # Transit refuses a missing key with 400 here: a read's 404 proves it gone.
                try:
                    transit.read_key(ref, mount_point=self.mount)
                except hvac.exceptions.InvalidPath:
                    return
                raise

        self._call("destroy", run)

    def refs(self, keyset: str) -> dict[str, str]:
        """The Transit keys of ``keyset`` in the mount (name -> name).

        Raises:
            CustodyError: (``refs``) no such mount; Vault refused or was not reached.
        """
        return {n: n for n in self._names("refs") if key_name_time(n, keyset) is not None}

    def check(self) -> None:
        """Look the token up (``auth/token/lookup-self``) and list the mount's keys.

        Raises:
            CustodyError: (``check``) the token refused, no such mount, or Vault
                not reached within ``timeout``.
        """
        self.session.call("check", lambda client: client.auth.token.lookup_self())
        self._names("check")

    def close(self) -> None:
        """Close every thread's HTTP session."""
        self.session.close()

    # -- helpers ----------------------------------------------------------------

    def _call(self, operation: str, fn: Callable[[Any], T]) -> T:
        """``fn(the Transit API)`` through the session's error boundary."""
        return self.session.call(operation, lambda client: fn(client.secrets.transit))

    def _read(self, ref: str, operation: str) -> dict[str, Any]:
        answer = self._call(operation, lambda t: t.read_key(ref, mount_point=self.mount))
        if not isinstance(answer, dict) or not isinstance(answer.get("data"), dict):
            raise self.error(operation, f"key {ref}: the description is not an object")
        return answer

    def _names(self, operation: str) -> list[str]:
        def list_keys(transit: Any) -> Any:
            try:
                return transit.list_keys(mount_point=self.mount)
            except hvac.exceptions.InvalidPath as exc:
                if exc.errors:  # "no handler for route": there is no such mount
                    raise self.error(operation, f"no Transit mount {self.mount!r}") from None
                return {"data": {"keys": []}}  # 404 without errors: the mount holds no key

        answer = self._call(operation, list_keys)
        keys = answer.get("data", {}).get("keys") if isinstance(answer, dict) else None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise self.error(operation, "the key list is not a list of names")
        return keys

    def _check_ref(self, ref: object, operation: str) -> None:
        if not isinstance(ref, str) or _REF.fullmatch(ref) is None:
            raise self.error(operation, "the reference is not a Transit key name")
