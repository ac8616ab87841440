"""Token minting on the raw ASGI path: ``POST /admin/v1/keysets/{name}/tokens``.

Minting is the one admin call made at request rates, so after
:class:`~keywell.server.guard.AdminGuard` has authenticated the caller and
checked the ``sign`` scope, it is served here without the framework: the body
is validated by the same pydantic model the OpenAPI schema documents
(:class:`~keywell.server.bodies.MintIn`), errors have the framework path's
problem shape, and the token is signed inline on the event loop only when
:meth:`Issuer.try_sign_cached` can sign from memory (it never does I/O). On a
cache miss (expired after ``sign_cache_ttl``, or cleared by a rotation,
revocation or another replica's change) :meth:`Issuer.sign`, which reads the
store, runs in a worker thread.

The reload is single-flight per key set: when the entry expires under load,
every request in flight misses at once, and without coordination each would
run its own store read and key decryption in its own thread (a p99 spike at
every ``sign_cache_ttl``). Instead the first miss holds the set's lock while
its thread reloads; the others wait on that lock, then sign from the fresh
entry inline. Should the reload fail, or its entry be dropped already (a
concurrent rotation or revocation), the next waiter reloads in its turn, so
the store sees one read per set at a time.

A key in a custody backend (HSM, Transit, KMS) signs by a backend call, never
on the event loop: once its signer is loaded, mints call the backend
concurrently in worker threads of their own limiter (``BACKEND_CALLS`` at a
time), outside the reload lock, so a set's throughput is not one token per
backend round trip, and a hanging backend never takes the threads that store
reads, ``/readyz`` and the admin API need.

DPoP-bound tokens (RFC 9449 section 6.1): a mint request that carries a
``DPoP`` header gets a token whose ``cnf.jkt`` is the RFC 7638 thumbprint of
the proof's key, so the whole flow runs on keywell alone. The proof is
checked as a resource server checks one (:func:`keywell.jose.check_proof`):
``htm`` is ``POST``, ``htu`` the mint URL under the configured
``public_url`` (else the request's Host), ``iat`` recent, ``jti`` not seen
before by this process. A refused proof is a 400 problem with code
``KW_DPOP_PROOF_INVALID`` and the OAuth error ``invalid_dpop_proof``; claims
that already carry ``cnf`` next to a proof are a 422. The answer's
``token_type`` is then ``DPoP``.

A token no keywell verifier would accept is never minted: the rules
(registered claim types, ``nbf`` before ``exp``, the default verifier's
``max_size``) live in the Issuer's signing path
(:func:`keywell.issuer.signing.check_minted`), so the library and the server
apply the same ones; their typed errors become 422 problems here.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from pydantic import ValidationError

from keywell.errors import DPoPProofError, KeywellError
from keywell.jose.dpop import check_proof
from keywell.jose.dpop_policy import DPoPPolicy
from keywell.jose.dpop_request import record
from keywell.jose.dpop_uri import asgi_request_uri
from keywell.server.bodies import MintIn
from keywell.server.fastpath import Scope, Send
from keywell.server.metrics import Metrics
from keywell.server.problems import Problem, problem_from_error, send_problem

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["FastMint"]

_JSON = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]


class FastMint:
    """Validate, sign and answer a mint request.

    Args:
        issuer: signs with the set's active key.
        metrics: counts minted tokens.
        public_url: the server's public base URL (the ``htu`` of DPoP proofs).
        dpop: how proofs on mint requests are checked (a default policy).
    """

    def __init__(
        self,
        issuer: Issuer,
        metrics: Metrics,
        *,
        public_url: str | None = None,
        dpop: DPoPPolicy | None = None,
    ) -> None:
        self.issuer = issuer
        self.metrics = metrics
        self.public_url = public_url
        self.dpop = dpop or DPoPPolicy()
        self._reloads: dict[str, anyio.Lock] = {}
        self._backend_calls: anyio.CapacityLimiter | None = None  # made on the event loop

    async def __call__(
        self, body: bytes, send: Send, name: str, scope: Scope | None = None
    ) -> None:
        """Answer one mint request whose ``body`` the guard read (and authorised)."""
        try:
            jkt = self._proof_jkt(scope) if scope is not None else None
            token = await self._mint(name, body, jkt)
        except Problem as problem:
            await send_problem(send, problem)
            return
        kind = b"JWT" if jkt is None else b"DPoP"
        # A compact JWS is base64url and dots only: nothing in it needs JSON escaping.
        out = b'{"token": "%s", "token_type": "%s"}' % (token.encode("ascii"), kind)
        headers = [*_JSON, (b"content-length", str(len(out)).encode())]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": out})

    def _proof_jkt(self, scope: Scope) -> str | None:
        """The thumbprint of the key of the request's DPoP proof, or None without one."""
        proofs = [bytes(v).decode("latin-1") for k, v in scope["headers"] if k == b"dpop"]
        if not proofs:
            return None
        now = time.time()
        try:
            if len(proofs) != 1:
                raise DPoPProofError("send exactly one DPoP header", member="DPoP")
            uri = asgi_request_uri(scope, self.public_url)
            proof = check_proof(proofs[0], method="POST", uri=uri, policy=self.dpop, now=now)
            record(self.dpop, proof, now)
        except DPoPProofError as exc:
            raise Problem(
                400,
                exc.code,
                "the DPoP proof is invalid",
                extra={"error": exc.error, "member": exc.member},
            ) from None
        return proof.jkt

    async def _mint(self, name: str, body: bytes, jkt: str | None = None) -> str:
        if not body.strip():
            raise _invalid([{"loc": ["body"], "type": "missing"}])
        try:
            request = MintIn.model_validate_json(body)
        except ValidationError as exc:
            shown: list[dict[str, object]] = [
                {"loc": ["body", *e["loc"]], "type": e["type"]} for e in exc.errors()[:20]
            ]
            raise _invalid(shown) from None
        ttl = None if request.ttl is None else timedelta(seconds=request.ttl)
        claims = request.claims
        if jkt is not None:
            if "cnf" in claims:
                raise Problem(
                    422,
                    "KW_INVALID_REQUEST",
                    'claims carry "cnf" and a DPoP proof binds the token: send one of them',
                )
            claims = {**claims, "cnf": {"jkt": jkt}}
        try:
            token = self.issuer.try_sign_cached(name, claims, ttl=ttl)
            if token is None:
                token = await self._sign_in_backend(name, claims, ttl)
            if token is None:
                token = await self._sign_reloading(name, claims, ttl)
        except KeywellError as exc:
            raise problem_from_error(exc) from None
        except ValueError as exc:  # the Issuer's refusals (reserved claims, issuer)
            raise Problem(422, "KW_INVALID_REQUEST", str(exc)) from None
        self.metrics.tokens_minted[name] += 1
        return token

    async def _sign_in_backend(
        self, name: str, claims: Mapping[str, Any], ttl: timedelta | None
    ) -> str | None:
        """Sign with a loaded custody signer in a worker thread; ``None`` if none is loaded.

        Concurrent mints call the backend concurrently (no per-set lock), at
        most :data:`BACKEND_CALLS` at a time in this process on a limiter of
        their own: a hanging backend (each call bounded by its ``timeout``)
        never takes the worker threads the store reads, ``/readyz`` and the
        admin API run in.
        """
        if not self.issuer.signer_in_memory(name):
            return None
        return await anyio.to_thread.run_sync(
            lambda: self.issuer.sign_if_loaded(name, claims, ttl=ttl), limiter=self._limiter()
        )

    def _limiter(self) -> anyio.CapacityLimiter:
        """The backend calls' own limiter (made on the event loop, at first use)."""
        if self._backend_calls is None:
            self._backend_calls = anyio.CapacityLimiter(BACKEND_CALLS)
        return self._backend_calls

    async def _sign_reloading(
        self, name: str, claims: Mapping[str, Any], ttl: timedelta | None
    ) -> str:
        """Sign after a cache miss: one store read per set at a time (see the module doc)."""
        lock = self._reloads.get(name)
        if lock is None:
            lock = self._reloads[name] = anyio.Lock()
        try:
            for _ in range(3):
                async with lock:
                    token = self.issuer.try_sign_cached(name, claims, ttl=ttl)
                    if token is not None:
                        return token
                    if not self.issuer.signer_in_memory(name):  # our turn to reload
                        return await anyio.to_thread.run_sync(
                            lambda: self.issuer.sign(name, claims, ttl=ttl)
                        )
                # reloaded while we waited, by a custody key: its backend call needs no lock
                token = await self._sign_in_backend(name, claims, ttl)
                if token is not None:
                    return token
            # the signer keeps being dropped (a custody backend refusing): sign on the
            # backend limiter, so a hanging backend never holds the shared worker threads
            return await anyio.to_thread.run_sync(
                lambda: self.issuer.sign(name, claims, ttl=ttl), limiter=self._limiter()
            )
        finally:
            # no waiter left: forget the lock, so names that were asked for once
            # (unknown sets included) do not accumulate
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._reloads.pop(name, None)


#: Custody backend calls in flight at once per process (their own worker threads).
BACKEND_CALLS = 16


def _invalid(errors: list[dict[str, object]]) -> Problem:
    return Problem(422, "KW_INVALID_REQUEST", "the request is invalid", extra={"errors": errors})
