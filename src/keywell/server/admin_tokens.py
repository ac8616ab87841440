"""Admin-token routes of the admin API: list, create (with expiry) and revoke tokens.

Under ``/admin/v1/admin-tokens``, each route needs the ``admin`` scope (the
guard checks it before the body is read, as for every admin route; see
:mod:`keywell.server.guard`). A secret is returned once, by the create call,
and never again; the list shows ids, names, scopes, fingerprints (12 hex
digits of the secret's SHA-256, the ``admin-token:...`` actor in the audit
log) and expiry. A revoked or expired token gets 401 on every admin route;
a replica that authenticated it within ``auth_cache_ttl`` seconds may
accept it for that long. The create body is strict; a token's name follows
the Issuer's label rule (:func:`keywell.lifecycle.names.check_label`); the
scopes are :data:`keywell.server.auth.SCOPES`;
a token id in a path is ``[1-9][0-9]*`` (``%201``, ``01``, ``+1`` are 422).

Included into the admin router by :func:`keywell.server.admin.build_admin_router`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import anyio.to_thread
from fastapi import APIRouter, Path, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from keywell.errors import AdminTokenNotFoundError
from keywell.issuer.admin_tokens import DEFAULT_TOKEN_TTL, AdminTokenInfo, admin_token_dict
from keywell.lifecycle.durations import MAX_DURATION
from keywell.lifecycle.names import LABEL_MAX, check_label
from keywell.server.auth import SCOPES, Principal
from keywell.server.guard import ADMIN_PREFIX, route_scope
from keywell.server.problems import Problem

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = [
    "SCOPE_PATTERN",
    "TOKEN_ID_PATTERN",
    "AdminTokenCreate",
    "AdminTokenCreated",
    "AdminTokenOut",
    "add_admin_token_routes",
]

_BASE = "/admin-tokens"


class AdminTokenOut(BaseModel):
    """An admin token as listed (never its secret); ``expires_at`` null means never."""

    id: int
    name: str
    scopes: list[str]
    fingerprint: str = Field(description="12 hex digits of the secret's SHA-256")
    created_at: datetime
    expires_at: datetime | None
    revoked: bool
    usable: bool = Field(description="neither revoked nor expired now")

    @classmethod
    def of(cls, info: AdminTokenInfo) -> AdminTokenOut:
        """The wire form of ``info`` (:func:`keywell.issuer.admin_tokens.admin_token_dict`)."""
        return cls.model_validate(admin_token_dict(info))


#: The scope names, from :data:`keywell.server.auth.SCOPES` (the one list).
SCOPE_PATTERN = "^(" + "|".join(sorted(SCOPES)) + ")$"
#: A token id in a path: a positive decimal integer without sign, space or leading zero.
TOKEN_ID_PATTERN = r"^[1-9][0-9]{0,9}$"  # noqa: S105 - a pattern, not a secret
_TOKEN_ID_MAX = 2**31 - 1


class AdminTokenCreate(BaseModel):
    """A new token: its scopes, a label, and its lifetime in seconds (default 90 days).

    Strict like every admin body (:mod:`keywell.server.bodies`): ``true`` or
    ``"3600"`` or ``1.0`` is no number of seconds; unknown members are refused.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    scopes: list[Annotated[str, Field(pattern=SCOPE_PATTERN)]] = Field(
        min_length=1, max_length=len(SCOPES)
    )
    # the Issuer's label rule (keywell.lifecycle.names), so a NUL is a 422 on every store
    name: Annotated[str, AfterValidator(lambda v: check_label(v, "name", empty=True))] = Field(
        default="", max_length=LABEL_MAX
    )
    ttl: int = Field(
        default=int(DEFAULT_TOKEN_TTL.total_seconds()),
        ge=1,
        le=MAX_DURATION,
        description="lifetime in seconds (default 90 days)",
    )


class AdminTokenCreated(AdminTokenOut):
    """A created token: its secret, shown this once."""

    token: str


def add_admin_token_routes(router: APIRouter, issuer: Issuer) -> None:
    """Declare the admin-token routes on ``router`` (prefixed ``/admin/v1``)."""

    def extra(method: str, path: str) -> dict[str, object]:
        return route_scope(method, ADMIN_PREFIX + path, "admin")

    @router.get(
        _BASE,
        response_model=list[AdminTokenOut],
        openapi_extra=extra("GET", _BASE),
        summary="List admin tokens (never their secrets)",
    )
    def list_tokens() -> list[AdminTokenOut]:
        return [AdminTokenOut.of(i) for i in issuer.list_admin_tokens()]

    @router.post(
        _BASE,
        response_model=AdminTokenCreated,
        status_code=201,
        openapi_extra=extra("POST", _BASE),
        summary="Create an admin token (its secret is in this response only)",
    )
    async def create_token(body: AdminTokenCreate, request: Request) -> AdminTokenCreated:
        principal = request.scope.get("state", {}).get("principal")
        actor = principal.actor if isinstance(principal, Principal) else "admin-api"

        def make() -> tuple[str, AdminTokenInfo | None]:
            secret = issuer.create_admin_token(
                body.scopes, name=body.name, actor=actor, ttl=timedelta(seconds=body.ttl)
            )
            return secret, issuer.admin_token_info(secret)

        secret, info = await anyio.to_thread.run_sync(make)
        if info is None:  # pragma: no cover - just written in the same store
            raise Problem(503, "KW_STORE", "the token was not stored")
        listed = AdminTokenOut.of(info)
        return AdminTokenCreated(**listed.model_dump(), token=secret)

    @router.post(
        _BASE + "/{token_id}/revoke",
        response_model=AdminTokenOut,
        openapi_extra=extra("POST", _BASE + "/{token_id}/revoke"),
        summary="Revoke an admin token by id (at once; idempotent)",
    )
    def revoke_token(
        token_id: Annotated[str, Path(pattern=TOKEN_ID_PATTERN)], request: Request
    ) -> AdminTokenOut:
        if int(token_id) > _TOKEN_ID_MAX:
            raise Problem(404, AdminTokenNotFoundError.code, "no admin token has that id")
        principal = request.scope.get("state", {}).get("principal")
        actor = principal.actor if isinstance(principal, Principal) else "admin-api"
        try:
            issuer.revoke_admin_token(token_id=int(token_id), actor=actor)
        except AdminTokenNotFoundError as exc:
            raise Problem(404, exc.code, "no admin token has that id") from exc
        info = next(i for i in issuer.list_admin_tokens() if i.id == int(token_id))
        return AdminTokenOut.of(info)
