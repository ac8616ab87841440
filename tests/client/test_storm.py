"""Unknown-kid storm and single flight across threads and asyncio tasks on one instance."""

from __future__ import annotations

import asyncio
import secrets
import threading

import pytest

from keywell import JWK, JWKSFetchError, NoMatchingKeyError, Verifier, jws
from keywell.client import RemoteJWKSet
from tests.client.jwks_server import Clock, JWKSServer, jwks, token

ISS = "https://issuer.example"
THREADS, PER_THREAD = 8, 75
TASKS, PER_TASK = 100, 4


def _random_kid_tokens(signer: JWK, count: int) -> list[str]:
    payload = b'{"iss":"https://issuer.example","aud":"api","exp":9999999999}'
    return [jws.sign(payload, signer, headers={"kid": secrets.token_hex(8)}) for _ in range(count)]


def _run_storm(v: Verifier, tokens: list[str]) -> list[BaseException | None]:
    """Verify tokens from THREADS threads and TASKS asyncio tasks, all started together."""
    outcomes: list[BaseException | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(THREADS + 1)

    def record(exc: BaseException | None) -> None:
        with lock:
            outcomes.append(exc)

    def worker(chunk: list[str]) -> None:
        barrier.wait()
        for t in chunk:
            try:
                v.verify(t)
                record(None)
            except Exception as exc:
                record(exc)

    async def task(chunk: list[str]) -> None:
        for t in chunk:
            try:
                await v.averify(t)
                record(None)
            except Exception as exc:
                record(exc)

    async def tasks_main(chunks: list[list[str]]) -> None:
        barrier.wait()
        await asyncio.gather(*(task(c) for c in chunks))

    sync_part = tokens[: THREADS * PER_THREAD]
    async_part = tokens[THREADS * PER_THREAD :]
    threads = [
        threading.Thread(target=worker, args=(sync_part[i * PER_THREAD : (i + 1) * PER_THREAD],))
        for i in range(THREADS)
    ]
    for th in threads:
        th.start()
    asyncio.run(tasks_main([async_part[i * PER_TASK : (i + 1) * PER_TASK] for i in range(TASKS)]))
    for th in threads:
        th.join()
    return outcomes


def test_unknown_kid_storm_causes_exactly_one_fetch(
    server: JWKSServer, clock: Clock, key_a: JWK
) -> None:
    server.set(jwks=jwks(key_a))
    remote = RemoteJWKSet(server.url(), clock=clock, timeout=5.0)
    v = Verifier(remote, issuer=ISS, audience="api")
    v.verify(token(key_a))
    assert server.hits() == 1
    clock.advance(31)  # the cooldown has passed: the storm may cause one refetch, no more
    server.set(jwks=jwks(key_a), delay=0.3)  # slow enough that the storm piles up on it
    tokens = _random_kid_tokens(JWK.generate("ES256"), THREADS * PER_THREAD + TASKS * PER_TASK)
    outcomes = _run_storm(v, tokens)
    assert len(outcomes) == 1000
    assert all(isinstance(e, NoMatchingKeyError) for e in outcomes)
    assert server.hits() == 2
    assert v.verify(token(key_a))["sub"] == "alice"


def test_cold_start_storm_shares_one_fetch(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(jwks=jwks(key_a), delay=0.3)
    remote = RemoteJWKSet(server.url(), clock=clock)
    v = Verifier(remote, issuer=ISS, audience="api")
    good = token(key_a)
    outcomes = _run_storm(v, [good] * (THREADS * PER_THREAD + TASKS * PER_TASK))
    assert outcomes == [None] * 1000  # nobody failed beside the fetch in flight
    assert server.hits() == 1


def test_cold_start_failure_shared_by_waiters(server: JWKSServer, clock: Clock, key_a: JWK) -> None:
    server.set(status=500, delay=0.3)
    remote = RemoteJWKSet(server.url(), clock=clock)
    v = Verifier(remote, issuer=ISS, audience="api")
    outcomes = _run_storm(v, [token(key_a)] * 1000)
    assert all(isinstance(e, JWKSFetchError) for e in outcomes)
    assert server.hits() == 1


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_cancelled_leader_does_not_strand_waiters(
    server: JWKSServer, clock: Clock, key_a: JWK, anyio_backend: str
) -> None:
    gate = threading.Event()
    server.set(jwks=jwks(key_a), gate=gate)
    remote = RemoteJWKSet(server.url(), clock=clock)
    v = Verifier(remote, issuer=ISS, audience="api")
    leader = asyncio.create_task(v.averify(token(key_a)))
    await asyncio.sleep(0.05)
    waiter = asyncio.create_task(v.averify(token(key_a)))
    await asyncio.sleep(0.05)
    leader.cancel()
    gate.set()
    with pytest.raises(asyncio.CancelledError):
        await leader
    assert (await waiter)["sub"] == "alice"  # it led a new fetch instead of failing
