"""Server configuration: a frozen dataclass read from a TOML file and ``KEYWELL_*`` variables.

Precedence, lowest first: defaults, the TOML file (its ``[server]`` table, or the
top level), the environment, then explicit overrides (command-line flags).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SERVERS",
    "ServerConfig",
    "config_from_json",
    "config_to_json",
    "load_config",
    "metrics_host_port",
]

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})

SERVERS = ("granian", "uvicorn")
"""The HTTP servers ``keywell serve`` can run the app under (the first is the default)."""


def _mask_url(url: str) -> str:
    """Hide a password in a database URL (``postgresql://user:pw@host`` -> ``user:***``)."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """Everything the key server needs to start.

    Attributes:
        database_url: SQLAlchemy URL of the key store (SQLite file or PostgreSQL).
        host: address to listen on.
        port: TCP port to listen on.
        public_url: the externally visible base URL, used in discovery documents'
            ``jwks_uri``; never derived from a request's ``Host`` header (cached
            documents must not be poisonable). Defaults to ``http://host:port``.
        default_keyset: the key set served at ``/.well-known/jwks.json``.
        tick_interval: seconds between two scheduler ``tick`` calls.
        poll_interval: seconds between two checks of the store's version counters;
            a change made through another replica is normally served within this delay.
        max_staleness: the hard bound: a public document (JWK Set, discovery) is
            never served from a snapshot whose last successful version check
            started more than this many seconds earlier; the request first waits
            for a check (stale-if-error: the last documents are served while the
            database is unreachable). A revocation or emergency rotation call
            returns only once this long has passed since its commit, so every
            replica then serves the new set. At least ``poll_interval``; default
            ``max(0.25, 2.5 * poll_interval)`` (see ``staleness_bound``).
        auth_cache_ttl: seconds an admin token's lookup (its scopes, or that it is
            unknown) is reused from memory; default the staleness bound, so a token
            revoked through one replica is refused by every replica within
            ``max_staleness`` (0.25 s by default), as a revoked key is.
        auth_failure_limit: failed admin authentications one client address may
            make per ``auth_failure_window`` before its admin requests get 429
            with ``Retry-After`` (a token bucket: the budget refills evenly).
        auth_failure_window: seconds over which ``auth_failure_limit`` refills.
        max_body_bytes: the largest request body, in bytes, on every route behind
            the public fast path (admin, minting, health, metrics...), counted as
            received whatever the framing or protocol; more gets 413 (``guard``).
        backlog: the listen queue length (connections the kernel holds before
            the server accepts them).
        max_connections: connections one worker serves at once (granian's
            ``backpressure``, uvicorn's ``limit_concurrency``); more wait in the
            backlog. Slow clients count until ``header_read_timeout`` drops them.
        header_read_timeout: seconds a client may take to send a request's
            headers before the connection is closed, under granian and uvicorn
            (see ``keywell.server.limits``).
        body_read_timeout: seconds a client may take to send a request body, from
            its first byte read by the app; later it gets 408 (any server).
        metrics_address: ``host:port`` of a separate listener serving ``/metrics``
            without a token (bind it to a private interface); ``None``: metrics
            only on the main port to a token with the ``metrics`` scope.
        log_json: emit one JSON object per log line.
        log_level: the root log level name.
        production: refuse development conveniences (a generated KEK).
        auto_upgrade: apply database migrations at start-up.
        metrics: serve ``/metrics`` (to a ``metrics`` token, or on ``metrics_address``).
        console: serve the web console at ``/console`` (``keywell.server.console``).
        server: the HTTP server, ``granian`` (default: a Rust HTTP stack, much
            faster on the public endpoints) or ``uvicorn`` (httptools, uvloop).
        workers: worker processes (granian only); each runs its own scheduler.
    """

    database_url: str = "sqlite:///keywell.db"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    default_keyset: str = "default"
    tick_interval: float = 5.0
    poll_interval: float = 0.1
    max_staleness: float | None = None
    auth_cache_ttl: float | None = None
    auth_failure_limit: int = 20
    auth_failure_window: float = 60.0
    max_body_bytes: int = 64 * 1024
    backlog: int = 2048
    max_connections: int = 4096
    header_read_timeout: float = 5.0
    body_read_timeout: float = 10.0
    metrics_address: str | None = None
    log_json: bool = False
    log_level: str = "INFO"
    production: bool = False
    auto_upgrade: bool = False
    metrics: bool = True
    console: bool = True
    server: str = "granian"
    workers: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError("port must be an integer in 0..65535")
        for name in (
            "tick_interval",
            "poll_interval",
            "auth_failure_window",
            "header_read_timeout",
            "body_read_timeout",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.auth_cache_ttl is not None and (
            not isinstance(self.auth_cache_ttl, int | float) or self.auth_cache_ttl < 0
        ):
            raise ValueError("auth_cache_ttl must be a number of seconds >= 0")
        for name in ("auth_failure_limit", "backlog", "max_connections"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer")
        if self.metrics_address is not None:
            metrics_host_port(self.metrics_address)
        if self.max_staleness is not None and (
            not isinstance(self.max_staleness, int | float)
            or not self.max_staleness >= self.poll_interval
        ):
            raise ValueError("max_staleness must be a number of seconds >= poll_interval")
        if self.server not in SERVERS:
            raise ValueError(f"server must be one of {', '.join(SERVERS)}, not {self.server!r}")
        if not isinstance(self.workers, int) or isinstance(self.workers, bool) or self.workers < 1:
            raise ValueError("workers must be a positive integer")
        if self.workers > 1 and self.server != "granian":
            raise ValueError("workers > 1 needs server = 'granian'")
        if self.workers > 1 and self.metrics_address is not None:
            raise ValueError("metrics_address serves one process's metrics: it needs workers = 1")
        if not isinstance(self.max_body_bytes, int) or self.max_body_bytes <= 0:
            raise ValueError("max_body_bytes must be a positive integer")
        if not self.default_keyset or "/" in self.default_keyset:
            raise ValueError("default_keyset must be a non-empty name without '/'")
        if self.public_url is not None and not self.public_url.startswith(("http://", "https://")):
            raise ValueError("public_url must be an http(s) URL")

    @property
    def staleness_bound(self) -> float:
        """``max_staleness``, or its default derived from ``poll_interval``."""
        if self.max_staleness is not None:
            return float(self.max_staleness)
        return max(0.25, 2.5 * self.poll_interval)

    @property
    def auth_cache_seconds(self) -> float:
        """``auth_cache_ttl``, or by default the staleness bound."""
        if self.auth_cache_ttl is not None:
            return float(self.auth_cache_ttl)
        return self.staleness_bound

    @property
    def base_url(self) -> str:
        """The public base URL without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        if host in ("0.0.0.0", "[::]"):  # noqa: S104 - only used to build a display URL
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"

    def __repr__(self) -> str:
        """Show the settings with any database password masked."""
        parts = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if f.repr and f.name != "database_url"
        ]
        return f"ServerConfig(database_url={_mask_url(self.database_url)!r}, {', '.join(parts)})"


def metrics_host_port(address: str) -> tuple[str, int]:
    """Split a ``host:port`` (``[v6]:port``) listener address; ValueError if malformed."""
    host, sep, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"metrics_address must be host:port, not {address!r}")
    return host, int(port)


_FIELDS = {f.name: f for f in dataclasses.fields(ServerConfig)}


def config_to_json(config: ServerConfig) -> str:
    """Every field of ``config`` as a JSON object (handed to a server's worker processes).

    The text holds the database URL unmasked: pass it only to our own child
    processes (through their environment), never to a log.
    """
    return json.dumps(dataclasses.asdict(config), separators=(",", ":"))


def config_from_json(text: str) -> ServerConfig:
    """The :class:`ServerConfig` that :func:`config_to_json` wrote.

    Raises:
        ValueError: the text is not a JSON object of known settings, or a value is invalid.
    """
    doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError("a serialized ServerConfig must be a JSON object")
    unknown = sorted(set(doc) - set(_FIELDS))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)}")
    return ServerConfig(**doc)


def _coerce(name: str, raw: Any) -> Any:
    kind = _FIELDS[name].type
    if not isinstance(raw, str):
        return raw
    if kind == "bool":
        low = raw.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"KEYWELL_{name.upper()} must be a boolean, not {raw!r}")
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "float | None":
        return float(raw) if raw.strip() else None
    if kind == "str | None":
        return raw or None
    return raw


def load_config(
    *,
    file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> ServerConfig:
    """Build a :class:`ServerConfig` from a TOML file, ``KEYWELL_*`` variables and overrides.

    Args:
        file: a TOML file; settings are read from its ``[server]`` table when present.
        env: the environment to read (``os.environ`` by default).
        **overrides: explicit values; ``None`` means "not given".

    Raises:
        ValueError: an unknown setting or a value of the wrong type.
    """
    values: dict[str, Any] = {}
    if file is not None:
        with open(file, "rb") as fh:
            doc = tomllib.load(fh)
        table = doc.get("server", doc)
        if not isinstance(table, dict):
            raise ValueError("the [server] table of the configuration file must be a table")
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in _FIELDS:
                raise ValueError(f"unknown setting {key!r} in {file}")
            values[name] = value
    source = os.environ if env is None else env
    for name in _FIELDS:
        raw = source.get(f"KEYWELL_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw)
    for name, value in overrides.items():
        if name not in _FIELDS:
            raise ValueError(f"unknown setting {name!r}")
        if value is not None:
            values[name] = value
    return ServerConfig(**values)
