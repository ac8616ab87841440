"""Run the key server under granian (default) or uvicorn, with graceful shutdown on SIGTERM.

granian (``server = "granian"``, the default) serves the app from a Rust HTTP
stack: on the 2-core bench machine the JWKS fast path answers 1.7-1.8x and
minting about 1.5x the requests per second it gets under uvicorn (see
``bench/server.py`` and bench/RESULTS.md). It
runs the app in worker processes (``workers``, 1 by default; interface ASGI,
uvloop, no websockets, no access log) that import it by name, so a worker
builds its Issuer and app from configuration alone: :func:`app_from_env`
reads the :class:`ServerConfig` the main process serialised into
``KEYWELL_WORKER_CONFIG`` and the KEK from the usual ``KEYWELL_KEK``,
``KEYWELL_KEK_FILE`` or ``KEYWELL_KEKS`` variables. The main process opens
the Issuer once before spawning (a missing KEK, an unreachable database or a
pending migration fails there, with its message), then only supervises.

Processes and signals under granian:

* SIGTERM/SIGINT to the main process: it stops accepting, sends SIGTERM to its
  workers, which finish in-flight requests and run the lifespan shutdown (stop
  the scheduler, close the Issuer), waits up to ``graceful_timeout`` seconds,
  then exits 0.
* A worker never outlives the main process: on Linux it asks the kernel for
  SIGTERM when its parent dies (``PR_SET_PDEATHSIG``), elsewhere a thread
  watches the parent pid; so a SIGKILL of the main process leaves no orphan
  serving on the port.
* SIGSTOP/SIGKILL meant to freeze or crash the whole server must go to the
  process group (``os.killpg``; start the server with ``start_new_session``),
  since the worker is the process that serves.

The listening socket is bound here, in the main process, before any server
starts, without ``SO_REUSEPORT`` (``keywell.server.listeners``): a busy port
fails at once with :class:`~keywell.errors.AddressInUseError`, whatever either
server is. Port 0 picks a free port; the ``listening`` and ``keywell server
ready`` log lines carry the bound one. Limits on slow clients come from
:class:`ServerConfig` (``keywell.server.limits`` lists them all).

uvicorn (``server = "uvicorn"``) serves in this very process (httptools,
uvloop); it installs SIGINT/SIGTERM handlers that stop accepting connections,
let in-flight requests finish (up to ``graceful_timeout`` seconds), then run
the lifespan shutdown; then it re-raises the signal so the process ends with
the conventional status.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING

from keywell.errors import AddressInUseError
from keywell.lifecycle.rules import is_publishable
from keywell.server.app import KeywellServer, create_app
from keywell.server.config import (
    ServerConfig,
    config_from_json,
    config_to_json,
    load_config,
    metrics_host_port,
)
from keywell.server.listeners import bind_listener, granian_on, uvicorn_protocol
from keywell.server.logs import configure_logging, granian_log_config
from keywell.server.metrics import start_metrics_listener

if TYPE_CHECKING:
    from keywell.issuer import Issuer

__all__ = [
    "PARENT_PID_ENV",
    "WORKER_CONFIG_ENV",
    "app_from_env",
    "open_issuer",
    "serve",
]

log = logging.getLogger("keywell.server")

WORKER_CONFIG_ENV = "KEYWELL_WORKER_CONFIG"
"""The variable holding the serialized :class:`ServerConfig` for granian's workers."""
PARENT_PID_ENV = "KEYWELL_WORKER_PARENT"
"""The main process's pid: a worker whose parent it is exits when that parent dies."""

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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
    config: ServerConfig,
    *,
    issuer: Issuer | None = None,
    graceful_timeout: int = 10,
    listener: socket.socket | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT under ``config.server``; closes ``issuer``.

    The listening socket is bound first (:func:`bind_listener`), so a busy
    port fails before anything else with :class:`AddressInUseError`, as does a
    busy ``metrics_address``. Under uvicorn the app serves ``issuer`` (opened
    from ``config`` if not given). Under granian the workers open their own, so
    ``issuer`` (or one opened here to check the KEK, the database and
    migrations before any worker starts) is closed before serving.
    ``listener``, if given, is a socket the caller bound already with
    :func:`bind_listener` (``config.port`` is then read from it).
    """
    configure_logging(json_output=config.log_json, level=config.log_level)
    try:
        if listener is None:
            listener = bind_listener(config.host, config.port, config.backlog)
    except AddressInUseError:
        if issuer is not None:
            issuer.close()
        raise
    try:
        config = dataclasses.replace(config, port=int(listener.getsockname()[1]))
        if config.metrics_address is not None:
            host, port = metrics_host_port(config.metrics_address)
            if port:  # a fixed metrics port must be free too (0 is picked by the worker)
                bind_listener(host, port).close()
        own = issuer or open_issuer(config)
        if config.server == "uvicorn":
            _serve_uvicorn(config, own, graceful_timeout, listener)
        else:
            own.close()
            _share_development_kek(config)
            _serve_granian(config, graceful_timeout, listener)
    finally:
        listener.close()


def _share_development_kek(config: ServerConfig) -> None:
    """Point the workers at the development KEK file the Issuer fell back to, if it did.

    Outside production a SQLite file without a configured KEK uses one kept
    beside it (``keywell.issuer.startup``); this process has warned about it,
    so the workers read it as ``KEYWELL_KEK_FILE``, which does not warn again.
    """
    if config.production or any(
        os.environ.get(name) for name in ("KEYWELL_KEK", "KEYWELL_KEK_FILE", "KEYWELL_KEKS")
    ):
        return
    from keywell.store.engine import sqlite_file

    db = sqlite_file(config.database_url)
    if db is not None:
        kek = db.with_name(db.name + ".kek")
        if kek.is_file():
            os.environ["KEYWELL_KEK_FILE"] = str(kek)


def _serve_uvicorn(
    config: ServerConfig, own: Issuer, graceful_timeout: int, listener: socket.socket
) -> None:
    import uvicorn

    try:
        app = create_app(own, config, close_issuer=True)
        _start_metrics(app, config)
        uv = uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            loop="uvloop",
            http=uvicorn_protocol(config.header_read_timeout),
            lifespan="on",
            access_log=False,
            log_config=None,
            server_header=False,
            timeout_graceful_shutdown=graceful_timeout,
            backlog=config.backlog,
            limit_concurrency=config.max_connections,
        )
        log.info(
            "listening",
            extra={
                "host": config.host,
                "port": config.port,
                "url": config.base_url,
                "server": "uvicorn",
            },
        )
        uvicorn.Server(uv).run(sockets=[listener])
    finally:  # not reached when uvicorn re-raises SIGTERM; the lifespan closed it then
        own.close()


def _start_metrics(app: KeywellServer, config: ServerConfig) -> None:
    """Serve unauthenticated metrics on ``metrics_address``, naming published sets only."""
    if config.metrics_address is None or not config.metrics:
        return
    host, port = metrics_host_port(config.metrics_address)
    registry = app.state.registry

    def public(name: str) -> bool:
        info = registry.infos.get(name)
        return info is not None and is_publishable(info.alg)

    start_metrics_listener(
        host, port, lambda: app.state.metrics.render(registry.keys, registry.infos, named=public)
    )


def _serve_granian(config: ServerConfig, graceful_timeout: int, listener: socket.socket) -> None:
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    try:
        level = LogLevels(config.log_level.lower())
    except ValueError:
        raise ValueError(f"log_level {config.log_level!r} is not a log level name") from None
    os.environ[WORKER_CONFIG_ENV] = config_to_json(config)
    os.environ[PARENT_PID_ENV] = str(os.getpid())
    server = granian_on(listener, backlog=config.backlog)(
        f"{__name__}:app_from_env",
        address=config.host,
        port=config.port,
        interface=Interfaces.ASGI,
        workers=config.workers,
        loop=Loops.uvloop,
        websockets=False,
        log_access=False,
        log_level=level,
        log_dictconfig=granian_log_config(json_output=config.log_json, level=config.log_level),
        factory=True,
        workers_kill_timeout=graceful_timeout,
        backlog=config.backlog,
        backpressure=config.max_connections,
        http1_settings=HTTP1Settings(
            header_read_timeout=max(1, round(config.header_read_timeout * 1000))
        ),
    )
    log.info(
        "listening",
        extra={
            "host": config.host,
            "port": config.port,
            "url": config.base_url,
            "server": "granian",
            "workers": config.workers,
        },
    )
    server.serve()


def app_from_env() -> KeywellServer:
    """The ASGI app of one granian worker (``keywell.server.runner:app_from_env``).

    The configuration comes from ``KEYWELL_WORKER_CONFIG`` (set by
    :func:`serve`), or from the ``KEYWELL_*`` settings when the factory is
    run directly (``granian --factory keywell.server.runner:app_from_env``);
    the KEK from ``KEYWELL_KEK*``. The app owns its Issuer: the lifespan
    shutdown closes it.
    """
    raw = os.environ.get(WORKER_CONFIG_ENV)
    config = config_from_json(raw) if raw else load_config()
    parent = os.environ.get(PARENT_PID_ENV)
    if parent and parent.isdigit() and int(parent) == os.getppid():
        _exit_with_parent(int(parent))
    configure_logging(json_output=config.log_json, level=config.log_level)
    app = create_app(open_issuer(config), config, close_issuer=True)
    _start_metrics(app, config)
    return app


def _exit_with_parent(parent: int) -> None:
    """Have SIGTERM delivered to this process when ``parent`` dies (no orphan keeps serving)."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
            if os.getppid() != parent:  # it died before the request took effect
                os.kill(os.getpid(), signal.SIGTERM)
            return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="keywell-parent-watch", daemon=True).start()
