"""The key server's ASGI application: fast path, admin guard, FastAPI, health and metrics.

Layers, outermost first::

    FastPath     GET/HEAD of JWK Sets and discovery documents from precomputed bytes
    ClientLimits per-address throttle of failed authentications (429), body deadline (408)
    AdminGuard   bearer-token authentication and scopes for /admin/v1 (before any parsing);
                 token minting served right here (keywell.server.minting)
    FastAPI      the admin API (OpenAPI 3 schema at /admin/v1/openapi.json),
                 /healthz, /readyz, /metrics (to a token with the ``metrics`` scope),
                 and the web console mounted at /console (``keywell.server.console``)

FastAPI was chosen over Starlette alone for the admin API because its OpenAPI
schema is generated from the same pydantic models that validate requests and
serialise responses, so schema and behaviour cannot drift (Schemathesis checks
this). The public endpoints never reach it, so its per-request cost does not
matter where throughput does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from keywell.errors import CustodyError, KeywellError
from keywell.server.admin import build_admin_router
from keywell.server.auth import Authenticator, authorize
from keywell.server.config import ServerConfig
from keywell.server.console import Console
from keywell.server.console.http import ProblemPages
from keywell.server.fastpath import ASGIApp, FastPath, Receive, Scope, Send
from keywell.server.guard import OPENAPI_PATH, AdminGuard
from keywell.server.limits import ClientLimits, FailureThrottle
from keywell.server.metrics import CONTENT_TYPE, Metrics
from keywell.server.minting import FastMint
from keywell.server.problems import (
    Problem,
    internal_error,
    problem_body,
    problem_from_error,
    problem_headers,
)
from keywell.server.published import Registry
from keywell.server.scheduler import Scheduler

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["CONSOLE_PREFIX", "KeywellServer", "ServerState", "create_app"]

CONSOLE_PREFIX = "/console"

log = logging.getLogger("keywell.server")


@dataclass(kw_only=True)
class ServerState:
    """What every layer of one server instance shares."""

    issuer: Issuer
    config: ServerConfig
    registry: Registry
    metrics: Metrics = field(default_factory=Metrics)

    async def propagated(self, since: float) -> None:
        """Sleep until ``max_staleness`` has passed since the monotonic time ``since``.

        Every replica serves no snapshot older than that bound, so once this
        returns, none of them serves a document from before ``since``.
        """
        await anyio.sleep(max(0.0, since + self.config.staleness_bound - time.monotonic()))


def _problem_response(problem: Problem) -> Response:
    """``problem`` as a framework response, with the headers :func:`send_problem` sends."""
    body = problem_body(problem)
    headers = {k.decode(): v.decode("latin-1") for k, v in problem_headers(problem, body)}
    return Response(body, status_code=problem.status, headers=headers)


def _install_error_handlers(api: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, Problem):  # pragma: no cover - registered for Problem only
            raise exc
        return _problem_response(exc)

    async def on_keywell(request: Request, exc: Exception) -> Response:
        if not isinstance(exc, KeywellError):  # pragma: no cover
            raise exc
        return _problem_response(problem_from_error(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        errors = exc.errors() if isinstance(exc, RequestValidationError) else []
        # only where and what: the offending input is never echoed back
        shown = [{"loc": list(e.get("loc", ())), "type": e.get("type", "")} for e in errors[:20]]
        problem = Problem(
            422, "KW_INVALID_REQUEST", "the request is invalid", extra={"errors": shown}
        )
        return _problem_response(problem)

    async def on_http(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
        code = {404: "KW_NOT_FOUND", 405: "KW_METHOD_NOT_ALLOWED"}.get(status, "KW_HTTP")
        problem = Problem(status, code, "no such resource" if status == 404 else "refused")
        response = _problem_response(problem)
        if isinstance(exc, StarletteHTTPException) and exc.headers:
            response.headers.update(exc.headers)
        return response

    async def on_error(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after answering; the guard sees the request id and stays quiet.
        return _problem_response(internal_error(exc, request.scope))

    api.add_exception_handler(Problem, on_problem)
    api.add_exception_handler(KeywellError, on_keywell)
    api.add_exception_handler(RequestValidationError, on_validation)
    api.add_exception_handler(StarletteHTTPException, on_http)
    api.add_exception_handler(Exception, on_error)


class KeywellServer:
    """One server instance: the ASGI app plus the background scheduler it owns.

    Args:
        issuer: the key store (shared with the scheduler).
        config: the server configuration.
        close_issuer: close the Issuer when the lifespan ends (the server owns it).

    ``app`` is the ASGI callable. Its lifespan runs :meth:`running`; tests that
    drive ``app`` without a lifespan (httpx's ASGI transport) enter
    ``running()`` themselves.
    """

    def __init__(self, issuer: Issuer, config: ServerConfig, *, close_issuer: bool = False) -> None:
        self._close_issuer = close_issuer
        registry = Registry(base_url=config.base_url, default_keyset=config.default_keyset)
        self.state = ServerState(issuer=issuer, config=config, registry=registry)
        metrics = self.state.metrics
        self.scheduler = Scheduler(
            issuer,
            registry,
            metrics,
            tick_interval=config.tick_interval,
            poll_interval=config.poll_interval,
            max_staleness=config.staleness_bound,
        )
        self.authenticator = Authenticator(
            issuer,
            ttl=config.auth_cache_seconds,
            on_failure=lambda reason: metrics.count(metrics.auth_failures, reason),
        )

        @asynccontextmanager
        async def lifespan(_: FastAPI) -> AsyncIterator[None]:
            async with self.running():
                yield

        api = FastAPI(
            title="keywell admin API",
            version="1",
            openapi_url=OPENAPI_PATH,
            docs_url=None,
            redoc_url=None,
            lifespan=lifespan,
            # Starlette's slash redirects name the request's Host header (an open redirect):
            # a trailing slash is a path the server does not have.
            redirect_slashes=False,
        )
        _install_error_handlers(api)
        api.include_router(build_admin_router(self.state))
        self._add_operational_routes(api)
        self.console: Console | None = None
        if config.console:
            self.console = Console(self.state, self.authenticator, prefix=CONSOLE_PREFIX)
            api.add_route(CONSOLE_PREFIX, self.console.root, methods=["GET"])
            api.mount(CONSOLE_PREFIX, self.console.app)
        self.api = api
        guard = AdminGuard(
            api,
            self.authenticator,
            max_body=config.max_body_bytes,
            mint=FastMint(issuer, metrics, public_url=config.public_url),
        )
        limits = ClientLimits(
            guard,
            throttle=FailureThrottle(
                limit=config.auth_failure_limit, window=config.auth_failure_window
            ),
            body_timeout=config.body_read_timeout,
            on_throttled=lambda: metrics.count(metrics.auth_failures, "throttled"),
            exempt=self._exempt,
        )
        behind: ASGIApp = limits
        if self.console is not None:  # refusals made before the console are console pages
            console = self.console
            behind = ProblemPages(
                limits, lambda p: console.access.error(p, None), prefix=CONSOLE_PREFIX
            )
        self.app = FastPath(
            behind,
            registry,
            metrics.count_jwks,
            freshen=self.scheduler.ensure_fresh,
            max_staleness=config.staleness_bound,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI entry point (the fast path in front of everything)."""
        await self.app(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[KeywellServer]:
        """Load the published documents, then tick and poll in the background until exit."""
        await self.scheduler.refresh(force=True)
        async with anyio.create_task_group() as tg:
            await tg.start(self.scheduler.run)
            log.info(
                "keywell server ready",
                extra={"keysets": len(self.state.registry.infos), "port": self.state.config.port},
            )
            try:
                yield self
            finally:
                tg.cancel_scope.cancel()
        if self._close_issuer:
            self.state.issuer.close()
        log.info("keywell server stopped")

    def _exempt(self, scope: Scope) -> bool:
        """Whether the failure throttle lets ``scope`` through: a token the store accepted lately.

        Sent as a bearer header (the admin API) or held by a console session.
        """
        if self.authenticator.vouched(_authorization(scope)):
            return True
        return self.console is not None and self.console.access.vouched(scope)

    def _add_operational_routes(self, api: FastAPI) -> None:
        state = self.state

        @api.get("/healthz", include_in_schema=False)
        async def healthz() -> dict[str, str]:
            return {"status": "ok"}

        @api.get("/readyz", include_in_schema=False)
        async def readyz() -> Response:
            try:
                await anyio.to_thread.run_sync(state.issuer.check_ready)
            except CustodyError as exc:  # which backend and call, never its address or credential
                detail = f"not ready: CustodyError ({exc.backend} custody, {exc.operation})"
                return _problem_response(Problem(503, exc.code, detail))
            except KeywellError as exc:
                problem = Problem(503, exc.code, "not ready: " + type(exc).__name__)
                return _problem_response(problem)
            except Exception as exc:  # the database may be down: any driver error
                problem = Problem(503, "KW_NOT_READY", "not ready: " + type(exc).__name__)
                return _problem_response(problem)
            return JSONResponse({"status": "ready"})

        if state.config.metrics:
            auth = self.authenticator

            @api.get("/metrics", include_in_schema=False)
            async def metrics(request: Request) -> Response:
                principal = await auth.authenticate(request.headers.get("authorization"))
                try:
                    authorize(principal, "metrics")
                except Problem:
                    auth.on_failure("scope")
                    raise
                text = state.metrics.render(state.registry.keys, state.registry.infos)
                return PlainTextResponse(text, media_type=CONTENT_TYPE)


def _authorization(scope: Scope) -> str | None:
    """The request's ``Authorization`` header value, if any (ASGI headers are latin-1)."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bytes(value).decode("latin-1")
    return None


def create_app(
    issuer: Issuer, config: ServerConfig | None = None, *, close_issuer: bool = False
) -> KeywellServer:
    """Build the ASGI application for ``issuer`` (a :class:`KeywellServer`, itself callable)."""
    return KeywellServer(issuer, config or ServerConfig(), close_issuer=close_issuer)
