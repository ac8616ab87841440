"""A KMS endpoint that drips or floods: every call ends within its timeout, memory bounded.

botocore bounds each socket read, not a call, and reads a whole answer into
memory: a server sending a byte every 0.2 s held a ``timeout=1`` call for as
long as it dripped, and a 400 MB answer was read whole. Each hostile answer
here is a real HTTP server on loopback speaking to a real boto3 client; the
call must end with a typed :class:`CustodyError` within the timeout plus 2 s
(two attempts of ``timeout / 2`` and one retry back-off under a second),
having read a bounded amount, and its message must not quote the credential.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from keywell.custody import close_all
from keywell.custody.awskms import AWSKMSCustody
from keywell.custody.bounded_http import MAX_ANSWER
from keywell.custody.uri import parse_custody
from keywell.errors import CustodyError
from tests.custody.hostile_http import (
    Hostile,
    drip_body,
    drip_headers,
    flood_chunked,
    flood_length,
)

TIMEOUT = 1.0
MARGIN = 2.0  # hang detection only: a retry back-off is under a second
KEY_ID = "AKIAKEYWELLBOUNDSTEST"
SECRET = "keywell-bounds-secret-0123456789abcdefghij"
KEY_REF = "0b7d2c4e-1111-4222-8333-444455556666"


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A credential the tests can look for in every message (the environment wins in boto3)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    yield
    close_all()


CALLS: dict[str, Callable[[AWSKMSCustody], object]] = {
    "check": lambda custody: custody.check(),
    "refs": lambda custody: custody.refs("api"),
    "destroy": lambda custody: custody.destroy(KEY_REF),
    "sign": lambda custody: custody.signer(KEY_REF, "ES256")(b"data"),
    "generate": lambda custody: custody.generate("ES256", keyset="api"),
}


@pytest.mark.parametrize(
    ("behave", "said"),
    [
        (drip_body, "did not answer within 0.5 s"),
        (drip_headers, "did not answer within 0.5 s"),
        (flood_length, "answered more than"),
        (flood_chunked, "answered more than"),
    ],
)
@pytest.mark.parametrize("operation", sorted(CALLS))
def test_a_dripping_or_flooding_endpoint_is_a_bounded_typed_error(
    behave: Callable[[socket.socket], None], said: str, operation: str, credentials: None
) -> None:
    server = Hostile(behave)
    try:
        uri = f"awskms:region=eu-west-1?endpoint=http://127.0.0.1:{server.port}&timeout={TIMEOUT:g}"
        custody = AWSKMSCustody.from_spec(parse_custody(uri))
        tracemalloc.start()
        started = time.monotonic()
        try:
            with pytest.raises(CustodyError) as caught:
                CALLS[operation](custody)
            took = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert took < TIMEOUT + MARGIN
        message = str(caught.value)
        assert said in message
        assert (caught.value.backend, caught.value.operation) == ("awskms", operation)
        assert KEY_ID not in message
        assert SECRET not in message
        assert caught.value.__cause__ is None
        assert peak < 4 * MAX_ANSWER  # not the 400 MiB offered
        assert server.sent < 2 * (MAX_ANSWER + 32 * 1024 * 1024)  # two attempts at most
        custody.close()
    finally:
        server.close()
