"""Verifier processes: a `RemoteJWKSet` on HAProxy, each token verified at random moments.

Every token a minter hands over is verified ``per_token`` times by every
verifier, at moments drawn uniformly from [receipt, exp). Each verification is
recorded as (token id, start, end, outcome); each JWKS fetch the RemoteJWKSet
makes is recorded by a recording transport as (start, end, status, etag, kids,
replica), so the analysis knows which document a verification used.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import queue
import random
import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx

from keywell import Verifier
from keywell.client import RemoteJWKSet
from keywell.errors import KeywellError

OK = "ok"
Fetch = tuple[float, float, int, str, list[str] | None, str]


def _kids(status: int, body: bytes) -> list[str] | None:
    if status != 200:
        return None
    try:
        return [str(k.get("kid")) for k in json.loads(body)["keys"]]
    except (ValueError, KeyError, TypeError):
        return None


def _record(log: list[Fetch], t0: float, resp: httpx.Response, body: bytes) -> None:
    log.append(
        (
            t0,
            time.time(),
            resp.status_code,
            resp.headers.get("etag", ""),
            _kids(resp.status_code, body),
            resp.headers.get("x-served-by", "?"),
        )
    )


class RecordingTransport(httpx.HTTPTransport):
    """Reads the whole answer, records it, and hands the same bytes to the client."""

    def __init__(self, log: list[Fetch]) -> None:
        super().__init__()
        self.log = log

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        t0 = time.time()
        try:
            resp = super().handle_request(request)
            body = b"".join(resp.iter_raw())
            resp.close()
        except httpx.HTTPError:
            self.log.append((t0, time.time(), 0, "", None, "-"))
            raise
        _record(self.log, t0, resp, body)
        return httpx.Response(resp.status_code, headers=resp.headers, content=body)


class AsyncRecordingTransport(httpx.AsyncHTTPTransport):
    """The asyncio twin of :class:`RecordingTransport`."""

    def __init__(self, log: list[Fetch]) -> None:
        super().__init__()
        self.log = log

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        t0 = time.time()
        try:
            resp = await super().handle_async_request(request)
            body = b"".join([chunk async for chunk in resp.aiter_raw()])
            await resp.aclose()
        except httpx.HTTPError:
            self.log.append((t0, time.time(), 0, "", None, "-"))
            raise
        _record(self.log, t0, resp, body)
        return httpx.Response(resp.status_code, headers=resp.headers, content=body)


def _remote(url: str, client: httpx.Client | httpx.AsyncClient, max_age: float) -> RemoteJWKSet:
    # Honour Cache-Control: no floor above the server's max-age, a short cooldown so an
    # unknown kid refetches, stale-if-error as the server announces it (prepublish).
    return RemoteJWKSet(
        url,
        allow_http=True,
        cooldown=0.5,
        min_ttl=0.5,
        default_ttl=max_age,
        max_ttl=max_age,
        max_stale=5.0,
        timeout=5.0,
        http_client=client,
    )


class Schedule:
    """Pending verifications: a heap of (when, token id, token, exp)."""

    def __init__(self, inbox: Queue[Any], per_token: int, seed: int) -> None:
        self.inbox = inbox
        self.per_token = per_token
        self.rng = random.Random(seed)
        self.heap: list[tuple[float, int, str]] = []

    def drain(self) -> None:
        while True:
            try:
                tid, token, exp = self.inbox.get_nowait()
            except queue.Empty:
                return
            now = time.time()
            if exp <= now:
                continue
            for _ in range(self.per_token):
                heapq.heappush(self.heap, (self.rng.uniform(now, exp), tid, token))

    def due(self, now: float) -> list[tuple[float, int, str]]:
        out = []
        while self.heap and self.heap[0][0] <= now:
            out.append(heapq.heappop(self.heap))
        return out

    def wait(self) -> float:
        if not self.heap:
            return 0.005
        return min(0.005, max(0.0, self.heap[0][0] - time.time()))


def _outcome(exc: Exception) -> str:
    return str(getattr(exc, "code", type(exc).__name__))


def _dump(out: str, kind: str, records: list[Any], fetches: list[Fetch]) -> None:
    Path(out).write_text(json.dumps({"kind": kind, "records": records, "fetches": fetches}))


def sync_verifier(
    index: int,
    jwks_url: str,
    issuer: str,
    max_age: float,
    per_token: int,
    inbox: Queue[Any],
    stop: Event,
    out: str,
) -> None:
    """Verify with ``Verifier.verify`` in one thread, each token at its random moments."""
    fetches: list[Fetch] = []
    client = httpx.Client(transport=RecordingTransport(fetches))
    verifier = Verifier(
        _remote(jwks_url, client, max_age), issuer=issuer, audience=None, algorithms=["ES256"]
    )
    sched = Schedule(inbox, per_token, seed=index)
    records: list[tuple[int, float, float, str]] = []
    while not (stop.is_set() and not sched.heap):
        sched.drain()
        for _, tid, token in sched.due(time.time()):
            t0 = time.time()
            try:
                verifier.verify(token)
                outcome = OK
            except KeywellError as exc:
                outcome = _outcome(exc)
            records.append((tid, t0, time.time(), outcome))
        time.sleep(sched.wait())
    client.close()
    _dump(out, "sync", records, fetches)


async def _averify_loop(
    index: int,
    jwks_url: str,
    issuer: str,
    max_age: float,
    per_token: int,
    inbox: Queue[Any],
    stop: Event,
    out: str,
) -> None:
    fetches: list[Fetch] = []
    client = httpx.AsyncClient(transport=AsyncRecordingTransport(fetches))
    verifier = Verifier(
        _remote(jwks_url, client, max_age), issuer=issuer, audience=None, algorithms=["ES256"]
    )
    sched = Schedule(inbox, per_token, seed=index)
    records: list[tuple[int, float, float, str]] = []
    tasks: set[asyncio.Task[None]] = set()

    async def one(tid: int, token: str) -> None:
        t0 = time.time()
        try:
            await verifier.averify(token)
            outcome = OK
        except KeywellError as exc:
            outcome = _outcome(exc)
        records.append((tid, t0, time.time(), outcome))

    while not (stop.is_set() and not sched.heap and not tasks):
        sched.drain()
        for _, tid, token in sched.due(time.time()):
            task = asyncio.create_task(one(tid, token))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        await asyncio.sleep(sched.wait())
    await client.aclose()
    _dump(out, "async", records, fetches)


def async_verifier(
    index: int,
    jwks_url: str,
    issuer: str,
    max_age: float,
    per_token: int,
    inbox: Queue[Any],
    stop: Event,
    out: str,
) -> None:
    """Verify with ``Verifier.averify``, concurrently, on an asyncio loop."""
    asyncio.run(_averify_loop(index, jwks_url, issuer, max_age, per_token, inbox, stop, out))
