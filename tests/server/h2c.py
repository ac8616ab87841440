"""A minimal HTTP/2 cleartext client (prior knowledge, RFC 9113 section 3.3) built on ``h2``.

httpx's HTTP/2 client blocks on flow control when a server answers before it
has read the whole request body, so the body-limit tests drive the protocol
directly: the body is streamed in DATA frames with no ``content-length`` for as
long as the server grants flow-control window, and the first response ends it.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events


@dataclass
class H2Response:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int = field(default=0)  # request body bytes the client managed to send

    def json(self) -> object:
        return json.loads(self.body)


def h2c_request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    body_size: int,
    *,
    chunk: int = 16384,
    timeout: float = 10.0,
) -> H2Response:
    """Send ``body_size`` bytes of ``x`` as the body, without content-length; the answer."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        stream = conn.get_next_available_stream_id()
        request_headers = [
            (":method", method),
            (":path", path),
            (":scheme", "http"),
            (":authority", f"127.0.0.1:{port}"),
            *((k.lower(), v) for k, v in headers.items()),
        ]
        conn.send_headers(stream, request_headers, end_stream=body_size == 0)
        sock.sendall(conn.data_to_send())
        sent, status, resp_headers, resp_body, done = 0, 0, {}, bytearray(), False
        open_body = body_size > 0
        for _ in range(100_000):  # bounded: every turn sends or reads something
            if open_body and status == 0:
                window = min(conn.local_flow_control_window(stream), conn.max_outbound_frame_size)
                if window > 0:
                    n = min(window, chunk, body_size - sent)
                    last = sent + n >= body_size
                    conn.send_data(stream, b"x" * n, end_stream=last)
                    sock.sendall(conn.data_to_send())
                    sent += n
                    open_body = not last
                    continue
            data = sock.recv(65536)
            if not data:
                break
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    hdrs = {k.decode(): v.decode() for k, v in event.headers}
                    status = int(hdrs[":status"])
                    resp_headers = hdrs
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    resp_body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif (
                    isinstance(event, h2.events.StreamEnded | h2.events.StreamReset)
                    and event.stream_id == stream
                ):
                    done = True
            sock.sendall(conn.data_to_send())
            if done:
                break
        return H2Response(status, resp_headers, bytes(resp_body), sent)
    finally:
        sock.close()
