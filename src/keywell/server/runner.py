"""Run the key server under uvicorn (httptools, uvloop), with graceful shutdown on SIGTERM.

uvicorn installs SIGINT/SIGTERM handlers that stop accepting connections,
let in-flight requests finish (up to ``graceful_timeout`` seconds), then run
the lifespan shutdown, which stops the scheduler and closes the Issuer; then it
re-raises the signal so the process ends with the conventional status.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from keywell.server.app import create_app
from keywell.server.config import ServerConfig
from keywell.server.logs import configure_logging

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = ["open_issuer", "serve"]

log = logging.getLogger("keywell.server")


def open_issuer(config: ServerConfig) -> Issuer:
    """The Issuer for ``config``: KEK from ``KEYWELL_KEK*`` (see ``keywell.store.kek``)."""
    from keywell.issuer import Issuer
    from keywell.store.kek import KEKRing

    return Issuer(
        config.database_url,
        keks=KEKRing.from_env(),
        production=config.production,
        auto_upgrade=config.auto_upgrade,
    )


def serve(
    config: ServerConfig, *, issuer: Issuer | None = None, graceful_timeout: int = 10
) -> None:
    """Serve until SIGTERM/SIGINT; closes ``issuer`` (opened from ``config`` if not given)."""
    import uvicorn

    configure_logging(json_output=config.log_json, level=config.log_level)
    own = issuer or open_issuer(config)
    try:
        app = create_app(own, config, close_issuer=True)
        uv = uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=graceful_timeout,
        )
        log.info(
            "listening", extra={"host": config.host, "port": config.port, "url": config.base_url}
        )
        uvicorn.Server(uv).run()
    finally:  # not reached when uvicorn re-raises SIGTERM; the lifespan closed it then
        own.close()
