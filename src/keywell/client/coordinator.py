"""Fetch coordination for a remote JWK Set: the lock, single flight and background refresh.

:class:`FetchCoordinator` is the base of :class:`keywell.client.RemoteJWKSet`.
It asks the I/O-free :class:`~keywell.client.cache.JWKSCache` what to do,
lets one caller lead each fetch while the others join it
(:mod:`keywell.client.flight`), runs the sync fetch in the calling thread or a
daemon thread and the async one in the running loop, and turns refusals into
typed errors. The warm path never enters this module.

A set made by :meth:`keywell.client.RemoteJWKSet.from_issuer` (lazy, the
default) runs discovery inside the first fetch it leads: discovery is then
single-flight too, its failure is charged to the cooldown like any failed
fetch, and it surfaces as :class:`~keywell.errors.DiscoveryError` until it
succeeds once (RFC 8414 section 3, OpenID Connect Discovery 1.0 section 4).
``timeout`` is then one deadline for discovery and the fetch of the set
together: a first lookup waits at most ``timeout`` seconds (plus the joining
slack of one second for followers), not one ``timeout`` per request.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import replace

import httpx

from keywell.client.aio import fetch_async
from keywell.client.cache import (
    Action,
    CachePolicy,
    Decision,
    FetchFailed,
    FetchResult,
    JWKSCache,
    Ticket,
)
from keywell.client.deadline import owned_sync_client
from keywell.client.discovery import adiscover, discover, metadata_urls
from keywell.client.flight import Flight
from keywell.client.http import FetchConfig, check_url, redact
from keywell.client.sync import fetch_sync
from keywell.errors import DiscoveryError, JWKSFetchError, NoMatchingKeyError
from keywell.jose.jwk import JWK
from keywell.jose.jwkset import JWKSet

__all__ = ["FetchCoordinator"]

logger = logging.getLogger("keywell.client")


_LATE = "timed out: discovery used the whole timeout"


def _rest_of(config: FetchConfig, started: float) -> FetchConfig | None:
    """``config`` with the time discovery left of its ``timeout``; None if none is left."""
    left = config.timeout - (time.monotonic() - started)
    return replace(config, timeout=left) if left > 0 else None


class FetchCoordinator:
    """Drives a :class:`JWKSCache` over HTTP from threads and asyncio alike.

    Args:
        config: where and how to fetch.
        policy: how long answers stay fresh and how often to refetch.
        http_client: an ``httpx.Client`` or ``httpx.AsyncClient`` to use, or
            ``None`` to create (and later close) a sync client on demand.
        clock: returns the current time in seconds.
    """

    def __init__(
        self,
        config: FetchConfig,
        policy: CachePolicy,
        http_client: httpx.Client | httpx.AsyncClient | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Start with an empty cache; nothing is fetched until first use."""
        self._config = config
        self._core = JWKSCache(policy)
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: Flight | None = None
        self._client = http_client if isinstance(http_client, httpx.Client) else None
        self._aclient = http_client if isinstance(http_client, httpx.AsyncClient) else None
        self._owns_client = http_client is None
        self._tasks: set[asyncio.Task[None]] = set()
        self._fresh_until = self._core.fresh_until
        self._memo: dict[tuple[str | None, str], tuple[JWK, ...]] = {}
        self._generation = 0  # +1 whenever the keys change (the verified-token cache reads it)
        self._url_text = redact(config.url)
        self._issuer: str | None = None
        self._wait_limit = config.timeout + 1.0

    def _defer_discovery(self, issuer: str) -> None:
        """Find the set's URL by discovery of ``issuer`` on first use (checked now)."""
        metadata_urls(issuer, allow_http=self._config.allow_http)
        self._issuer = issuer
        self._url_text = f"issuer {issuer[:256]} (jwks_uri not yet discovered)"

    def _discovered(self, jwks_uri: str) -> FetchConfig:
        config = replace(self._config, url=check_url(jwks_uri, allow_http=self._config.allow_http))
        with self._lock:
            self._config = config
            self._issuer = None
            self._url_text = redact(config.url)
        return config

    def _begin(self, kid: str | None, first: bool) -> tuple[Decision, Flight | None, bool]:
        """Under the lock: plan, and lead or join a flight if the answer depends on one.

        A caller that cannot be served from the cache joins the fetch in
        progress (once) instead of failing beside it.
        """
        with self._lock:
            now = self._clock()
            decision = self._core.plan(kid, now, allow_fetch=first)
            action = decision.action
            flight = self._flight
            if flight is not None:
                if first and action not in (Action.SERVE, Action.SERVE_AND_REFRESH):
                    return Decision(Action.FETCH), flight, False
                return decision, None, False
            if action is Action.FETCH or action is Action.SERVE_AND_REFRESH:
                flight = self._flight = Flight(self._core.begin(now))
                return decision, flight, True
            return decision, None, False

    def _finish(self, flight: Flight, ticket: Ticket, result: FetchResult | None) -> None:
        try:
            with self._lock:
                now = self._clock()
                before = self._core.keys
                try:
                    if result is None:
                        self._core.abandon(ticket)
                    else:
                        self._core.complete(ticket, result, now)
                except Exception as exc:
                    result = FetchFailed(f"response could not be used: {type(exc).__name__}")
                    self._core.complete(ticket, result, now)
                finally:
                    if self._flight is flight:
                        self._flight = None
                if self._core.keys is not before:
                    self._memo = {}
                    self._generation += 1
                self._fresh_until = self._core.fresh_until
        finally:
            flight.finish(abandoned=result is None)
        if isinstance(result, FetchFailed):
            health = self._core.health(now)
            logger.warning(
                "JWKS fetch from %s failed: %s (set state %s, age %s)",
                self._url_text,
                result.reason,
                health.state,
                "n/a" if health.age is None else f"{health.age:.0f}s",
            )

    def _resolve(self, decision: Decision, kid: str | None) -> JWKSet:
        action = decision.action
        if action is Action.FAIL_UNKNOWN_KID and kid is not None:
            raise NoMatchingKeyError(self._kid_message(kid, decision.reason))
        if action is Action.FAIL_UNAVAILABLE:
            if self._issuer is not None:
                raise DiscoveryError(f"JWK Set of {self._url_text} unavailable: {decision.reason}")
            raise JWKSFetchError(f"JWK Set from {self._url_text} unavailable: {decision.reason}")
        return self._core.keys

    def _kid_message(self, kid: str, why: str) -> str:
        return f"kid {kid[:64]!r} is not in the JWK Set from {self._url_text}: {why}"

    def _sync_client(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = owned_sync_client()
                client = self._client
        return client

    def _run_sync(self, flight: Flight) -> None:
        ticket = flight.ticket
        result: FetchResult | None = None
        try:
            client = self._sync_client()
            config: FetchConfig | None = self._config
            if self._issuer is not None:
                started = time.monotonic()
                config = self._discovered(
                    discover(
                        self._issuer,
                        client=client,
                        timeout=self._config.timeout,
                        allow_http=self._config.allow_http,
                        headers=self._config.headers,
                    )
                )
                config = _rest_of(config, started)
            result = FetchFailed(_LATE) if config is None else fetch_sync(client, config, ticket)
        except DiscoveryError as exc:
            result = FetchFailed(exc.message)
        except Exception as exc:  # a defect must not strand the waiters
            result = FetchFailed(f"unexpected {type(exc).__name__}")
        finally:
            self._finish(flight, ticket, result)

    async def _run_async(self, flight: Flight) -> None:
        ticket = flight.ticket
        result: FetchResult | None = None
        try:
            config: FetchConfig | None = self._config
            if self._issuer is not None:
                started = time.monotonic()
                config = self._discovered(
                    await adiscover(
                        self._issuer,
                        client=self._aclient,
                        timeout=self._config.timeout,
                        allow_http=self._config.allow_http,
                        headers=self._config.headers,
                    )
                )
                config = _rest_of(config, started)
            if config is None:
                result = FetchFailed(_LATE)
            else:
                result = await fetch_async(self._aclient, config, ticket)
        except DiscoveryError as exc:
            result = FetchFailed(exc.message)
        except Exception as exc:
            result = FetchFailed(f"unexpected {type(exc).__name__}")
        finally:
            self._finish(flight, ticket, result)

    def _ensure(self, kid: str | None) -> JWKSet:
        first = True
        while True:
            decision, flight, leader = self._begin(kid, first)
            if flight is None:
                return self._resolve(decision, kid)
            if decision.action is Action.SERVE_AND_REFRESH:
                threading.Thread(
                    target=self._run_sync, args=(flight,), name="keywell-jwks-refresh", daemon=True
                ).start()
                return self._resolve(decision, kid)
            if leader:
                self._run_sync(flight)
            else:
                flight.wait(self._wait_limit)
            first = flight.abandoned and flight.done

    async def _aensure(self, kid: str | None) -> JWKSet:
        first = True
        while True:
            decision, flight, leader = self._begin(kid, first)
            if flight is None:
                return self._resolve(decision, kid)
            if decision.action is Action.SERVE_AND_REFRESH:
                task = asyncio.get_running_loop().create_task(self._run_async(flight))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
                return self._resolve(decision, kid)
            if leader:
                await self._run_async(flight)
            else:
                await flight.wait_async(self._wait_limit)
            first = flight.abandoned and flight.done

    def close(self) -> None:
        """Close the HTTP client this set created (not one passed in)."""
        if self._owns_client and self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close owned clients and wait for background refreshes."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.close()
