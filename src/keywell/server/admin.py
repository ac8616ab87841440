"""The admin API under ``/admin/v1``: key sets, policies, rotation, revocation, audit, minting.

Authentication and scopes are enforced by :class:`~keywell.server.guard.AdminGuard`
before a request reaches these handlers; each route declares its scope with
:func:`~keywell.server.guard.route_scope`, which also documents it in the
OpenAPI schema (``x-required-scope``). Handlers that touch the store are plain
functions, run by FastAPI in worker threads. After a change the handler
refreshes this replica's published documents at once; other replicas follow
within their poll interval, and never later than ``max_staleness``: a
revocation or an emergency rotation answers only after that bound has passed
since its commit (``committed_at`` in the response), so when it returns every
replica serves the new key set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Security
from fastapi.security import HTTPBearer
from pydantic import AfterValidator

from keywell.lifecycle.names import KEYSET_NAME_MAX, check_keyset_name, is_keyset_name, is_kid
from keywell.lifecycle.rules import jwks_uri
from keywell.server import operations
from keywell.server.admin_tokens import add_admin_token_routes
from keywell.server.auth import Principal
from keywell.server.bodies import CustodyIn, KeySetCreate, MintIn, PolicyModel, RevokeIn, RotateIn
from keywell.server.guard import ADMIN_PREFIX, route_scope
from keywell.server.models import (
    AuditOut,
    KeyOut,
    KeySetOut,
    MintOut,
    ProblemOut,
    RotateOut,
    TransitionOut,
)
from keywell.server.problems import PROBLEM_JSON, Problem

if TYPE_CHECKING:
    from keywell.server.app import ServerState

__all__ = ["build_admin_router"]

_bearer = HTTPBearer(auto_error=False, description="an admin API token")
_PROBLEM = {"model": ProblemOut, "content": {PROBLEM_JSON: {}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {**_PROBLEM, "description": text}
    for status, text in (
        (400, "Malformed request"),
        (401, "Missing or invalid bearer token"),
        (403, "The token lacks the required scope"),
        (404, "No such key set or key"),
        (408, "The request body came too slowly (body read timeout)"),
        (409, "Conflict with the key set's state"),
        (413, "The body is larger than max_body_bytes"),
        (415, "The body is not application/json"),
        (422, "Invalid request content"),
        (429, "Too many failed authentications from this address; retry after Retry-After"),
        (503, "The store or a key-encryption key is unavailable"),
    )
}
_ERRORS[429]["headers"] = {
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}
}
Name = Annotated[str, "key set name"]
AuditKeySet = Annotated[
    str | None,
    AfterValidator(lambda v: v if v is None else check_keyset_name(v)),
    Query(max_length=KEYSET_NAME_MAX),
]


def _valid_path(request: Request) -> None:
    """Path names and kids that break the rules of ``lifecycle.names`` name nothing: 404.

    Checked once for every route, before any handler runs (so before the store).
    """
    params = request.path_params
    if "name" in params and not is_keyset_name(params["name"]):
        raise Problem(404, "KW_KEYSET_NOT_FOUND", "no key set has that name")
    if "kid" in params and not is_kid(params["kid"]):
        raise Problem(404, "KW_KEY_NOT_FOUND", "the key set has no key with that kid")


def _principal(request: Request) -> Principal:
    principal = request.scope.get("state", {}).get("principal")
    if not isinstance(principal, Principal):  # the guard always sets it; refuse if bypassed
        raise Problem(401, "KW_UNAUTHORIZED", "a bearer token is required")
    return principal


@contextmanager
def _refused_values() -> Iterator[None]:
    """The Issuer refuses bad arguments with ValueError; its messages name no secret."""
    try:
        yield
    except ValueError as exc:
        raise Problem(422, "KW_INVALID_REQUEST", str(exc)) from exc


def build_admin_router(state: ServerState) -> APIRouter:
    """The admin routes bound to ``state`` (issuer, registry, scheduler, metrics)."""
    router = APIRouter(
        prefix=ADMIN_PREFIX,
        responses=_ERRORS,
        dependencies=[Security(_bearer), Depends(_valid_path)],
        tags=["admin"],
    )
    issuer = state.issuer

    def _extra(method: str, path: str, scope: str) -> dict[str, Any]:
        return route_scope(method, ADMIN_PREFIX + path, scope)

    def _jwks_uri(name: str, alg: str) -> str | None:
        default = name == state.config.default_keyset
        return jwks_uri(state.config.base_url, name, alg, default=default)

    def _out(info: Any) -> KeySetOut:
        return KeySetOut.of(info, _jwks_uri(info.name, info.alg))

    def _refresh() -> None:
        state.registry.refresh(issuer)

    @router.get(
        "/keysets",
        response_model=list[KeySetOut],
        openapi_extra=_extra("GET", "/keysets", "read"),
        summary="List key sets",
    )
    def list_keysets() -> list[KeySetOut]:
        return [_out(i) for i in issuer.list_keysets()]

    @router.post(
        "/keysets",
        response_model=KeySetOut,
        status_code=201,
        openapi_extra=_extra("POST", "/keysets", "admin"),
        summary="Create a key set",
    )
    def create_keyset(body: KeySetCreate, request: Request) -> KeySetOut:
        policy = body.policy.to_policy() if body.policy is not None else None
        with _refused_values():
            info = issuer.create_keyset(
                body.name,
                issuer=body.issuer,
                alg=body.alg,
                policy=policy,
                actor=_principal(request).actor,
                custody=body.custody,
            )
        _refresh()
        return _out(info)

    @router.get(
        "/keysets/{name}",
        response_model=KeySetOut,
        openapi_extra=_extra("GET", "/keysets/{name}", "read"),
        summary="Get a key set",
    )
    def get_keyset(name: Name) -> KeySetOut:
        return _out(issuer.get_keyset(name))

    @router.put(
        "/keysets/{name}/policy",
        response_model=KeySetOut,
        openapi_extra=_extra("PUT", "/keysets/{name}/policy", "admin"),
        summary="Replace a key set's rotation policy",
    )
    def update_policy(name: Name, body: PolicyModel, request: Request) -> KeySetOut:
        info = issuer.update_policy(name, body.to_policy(), actor=_principal(request).actor)
        _refresh()
        return _out(info)

    @router.put(
        "/keysets/{name}/custody",
        response_model=KeySetOut,
        openapi_extra=_extra("PUT", "/keysets/{name}/custody", "admin"),
        summary="Move a key set's custody (its next keys are made there)",
    )
    def set_custody(name: Name, body: CustodyIn, request: Request) -> KeySetOut:
        info = issuer.set_custody(name, body.custody, actor=_principal(request).actor)
        _refresh()
        return _out(info)

    @router.post(
        "/keysets/{name}/rotate",
        response_model=RotateOut,
        openapi_extra=_extra("POST", "/keysets/{name}/rotate", "rotate"),
        summary="Rotate now (planned, or emergency)",
    )
    async def rotate(
        name: Name, request: Request, body: Annotated[RotateIn | None, Body()] = None
    ) -> RotateOut:
        emergency = body.emergency if body is not None else False
        actor = _principal(request).actor
        result, committed = await operations.rotate(state, name, emergency=emergency, actor=actor)
        return RotateOut.of(result) if committed is None else RotateOut.of(result, committed)

    @router.get(
        "/keysets/{name}/keys",
        response_model=list[KeyOut],
        openapi_extra=_extra("GET", "/keysets/{name}/keys", "read"),
        summary="List keys with states and timestamps",
    )
    def list_keys(name: Name) -> list[KeyOut]:
        return [KeyOut.of(k) for k in issuer.keys(name)]

    @router.post(
        "/keysets/{name}/keys/{kid}/revoke",
        response_model=list[TransitionOut],
        openapi_extra=_extra("POST", "/keysets/{name}/keys/{kid}/revoke", "revoke"),
        summary="Revoke a key",
    )
    async def revoke(name: Name, kid: str, body: RevokeIn, request: Request) -> list[TransitionOut]:
        actor = _principal(request).actor
        with _refused_values():
            transitions, committed = await operations.revoke(
                state, name, kid, body.reason, actor=actor
            )
        return [TransitionOut.of(t, committed) for t in transitions]

    @router.get(
        "/audit",
        response_model=list[AuditOut],
        openapi_extra=_extra("GET", "/audit", "read"),
        summary="Read the audit log, newest first",
    )
    def audit(
        keyset: AuditKeySet = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditOut]:
        return [AuditOut.of(e) for e in issuer.history(keyset, limit=limit)]

    @router.post(
        "/keysets/{name}/tokens",
        response_model=MintOut,
        status_code=201,
        openapi_extra=_extra("POST", "/keysets/{name}/tokens", "sign"),
        summary="Mint a token signed by the set's active key",
    )
    async def mint(
        name: Name,
        body: MintIn,
        dpop: Annotated[
            str | None,
            Header(
                alias="DPoP",
                description="a DPoP proof (RFC 9449) for POST to this URL: the token is "
                "bound to its key (cnf.jkt) and token_type is DPoP; a refused proof is a 400",
            ),
        ] = None,
    ) -> MintOut:
        """Schema only: the guard serves this route with ``keywell.server.minting.FastMint``."""
        raise RuntimeError("POST .../tokens is served by keywell.server.minting, never here")

    add_admin_token_routes(router, issuer)
    return router
