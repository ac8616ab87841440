"""Framework integrations (optional extras): ASGI/FastAPI, Flask, Django, httpx.

Each submodule imports its framework lazily; import the one you use, e.g.
``from keywell.integrations.asgi import BearerAuthMiddleware``. The shared,
framework-free pieces are exported here.
"""

from keywell.integrations._common import (
    AuthFailure,
    TokenVerifier,
    aauthenticate,
    authenticate,
    bearer_token,
    check_scopes,
    token_scopes,
)

__all__ = [
    "AuthFailure",
    "TokenVerifier",
    "aauthenticate",
    "authenticate",
    "bearer_token",
    "check_scopes",
    "token_scopes",
]
