"""A Transit server that drips or floods: every call ends within its timeout, memory bounded.

``requests`` bounds each socket read, not a call: before
:mod:`keywell.custody.bounded_http`, a server sending one byte every half
second held a ``timeout=1`` call for as long as it dripped, and an answer of
any size was read into memory. Each hostile answer here is a real HTTP server
on loopback; the call must end with a typed :class:`CustodyError` within the
timeout (plus a hang-detection margin), having read a bounded amount.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from keywell.custody import close_all
from keywell.custody.transit import TransitCustody
from keywell.custody.transit_wire import MAX_ANSWER
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
MARGIN = 5.0  # hang detection only


@pytest.fixture
def token_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "token"
    path.write_text("hvs.not-a-real-token")
    yield path
    close_all()


@pytest.mark.parametrize(
    ("behave", "said"),
    [
        (drip_body, "did not answer within 1 s"),
        (drip_headers, "did not answer within 1 s"),
        (flood_length, "answered more than"),
        (flood_chunked, "answered more than"),
    ],
)
@pytest.mark.parametrize("operation", ["check", "refs", "destroy", "sign"])
def test_a_dripping_or_flooding_server_is_a_bounded_typed_error(
    behave: Callable[[socket.socket], None], said: str, operation: str, token_file: Path
) -> None:
    server = Hostile(behave)
    try:
        uri = f"transit://127.0.0.1:{server.port}/transit?token-file={token_file}&timeout=1"
        custody = TransitCustody.from_spec(parse_custody(uri))
        calls = {
            "check": custody.check,
            "refs": lambda: custody.refs("api"),
            "destroy": lambda: custody.destroy("keywell-api-20300101000000-0123456789abcdef012345"),
            "sign": lambda: custody.signer("keywell-api-x", "ES256")(b"data"),
        }
        started = time.monotonic()
        with pytest.raises(CustodyError) as caught:
            calls[operation]()
        assert time.monotonic() - started < TIMEOUT + MARGIN
        assert said in str(caught.value)
        assert caught.value.backend == "transit"
        assert server.sent < MAX_ANSWER + 32 * 1024 * 1024  # not the 400 MiB offered
        custody.close()
    finally:
        server.close()
